"""Every GraphQL document StashDesk sends to Stash.

They live here, and only here, so one test can validate all of them against
upstream Stash's schema (``DOCUMENTS`` lists them by name).
"""

from __future__ import annotations

SCENE_FIELDS = """
fragment SceneFields on Scene {
  id
  title
  details
  date
  rating100
  organized
  created_at
  updated_at
  files { id path basename size duration width height }
  tags { id name }
  performers { id name }
  studio { id name }
  scene_markers { id title seconds end_seconds primary_tag { id name } }
  paths { screenshot }
}
"""

VERSION = """
query Version {
  version { version hash build_time }
}
"""

LIBRARY_PATHS = """
query LibraryPaths {
  configuration { general { stashes { path excludeVideo } } }
}
"""

FIND_SCENES = (
    """
query FindScenes($filter: FindFilterType, $scene_filter: SceneFilterType, $ids: [ID!]) {
  findScenes(filter: $filter, scene_filter: $scene_filter, ids: $ids) {
    count
    scenes { ...SceneFields }
  }
}
"""
    + SCENE_FIELDS
)

COUNT_SCENES = """
query CountScenes($scene_filter: SceneFilterType) {
  findScenes(scene_filter: $scene_filter, filter: {per_page: 0}) { count }
}
"""

FIND_SCENE_PATHS = """
query FindScenePaths($filter: FindFilterType, $scene_filter: SceneFilterType) {
  findScenes(filter: $filter, scene_filter: $scene_filter) {
    count
    scenes { id files { path } }
  }
}
"""

FIND_SCENE = (
    """
query FindScene($id: ID!) {
  findScene(id: $id) { ...SceneFields }
}
"""
    + SCENE_FIELDS
)

FIND_TAGS = """
query FindTags($filter: FindFilterType, $tag_filter: TagFilterType) {
  findTags(filter: $filter, tag_filter: $tag_filter) {
    count
    tags { id name aliases }
  }
}
"""

FIND_PERFORMERS = """
query FindPerformers($filter: FindFilterType, $performer_filter: PerformerFilterType) {
  findPerformers(filter: $filter, performer_filter: $performer_filter) {
    count
    performers { id name alias_list }
  }
}
"""

FIND_STUDIOS = """
query FindStudios($filter: FindFilterType, $studio_filter: StudioFilterType) {
  findStudios(filter: $filter, studio_filter: $studio_filter) {
    count
    studios { id name aliases }
  }
}
"""

UI_CONFIGURATION = """
query UIConfiguration {
  configuration { ui }
}
"""

TAG_CREATE = """
mutation TagCreate($input: TagCreateInput!) {
  tagCreate(input: $input) { id name aliases }
}
"""

PERFORMER_CREATE = """
mutation PerformerCreate($input: PerformerCreateInput!) {
  performerCreate(input: $input) { id name alias_list }
}
"""

STUDIO_CREATE = """
mutation StudioCreate($input: StudioCreateInput!) {
  studioCreate(input: $input) { id name aliases }
}
"""

SCENE_UPDATE = """
mutation SceneUpdate($input: SceneUpdateInput!) {
  sceneUpdate(input: $input) { id updated_at }
}
"""

BULK_SCENE_UPDATE = """
mutation BulkSceneUpdate($input: BulkSceneUpdateInput!) {
  bulkSceneUpdate(input: $input) { id updated_at }
}
"""

SCENE_MARKER_CREATE = """
mutation SceneMarkerCreate($input: SceneMarkerCreateInput!) {
  sceneMarkerCreate(input: $input) { id title seconds end_seconds primary_tag { id name } }
}
"""

METADATA_SCAN = """
mutation MetadataScan($input: ScanMetadataInput!) {
  metadataScan(input: $input)
}
"""

METADATA_GENERATE = """
mutation MetadataGenerate($input: GenerateMetadataInput!) {
  metadataGenerate(input: $input)
}
"""

JOB_FIELDS = "id status subTasks description progress startTime endTime addTime error"

FIND_JOB = (
    """
query FindJob($input: FindJobInput!) {
  findJob(input: $input) { """
    + JOB_FIELDS
    + """ }
}
"""
)

JOB_QUEUE = (
    """
query JobQueue {
  jobQueue { """
    + JOB_FIELDS
    + """ }
}
"""
)

# Sent over the WebSocket (stashdesk.clients.stash_feed), not POSTed.
JOBS_SUBSCRIBE = (
    """
subscription JobsSubscribe {
  jobsSubscribe { type job { """
    + JOB_FIELDS
    + """ } }
}
"""
)

METADATA_IDENTIFY = """
mutation MetadataIdentify($input: IdentifyMetadataInput!) {
  metadataIdentify(input: $input)
}
"""

METADATA_AUTO_TAG = """
mutation MetadataAutoTag($input: AutoTagMetadataInput!) {
  metadataAutoTag(input: $input)
}
"""

IDENTIFY_OPTIONS_FIELDS = """
  fieldOptions { field strategy createMissing }
  setCoverImage setOrganized includeMalePerformers skipMultipleMatches skipMultipleMatchTag
  skipSingleNamePerformers skipSingleNamePerformerTag
"""

# The stash-box endpoints and the identify defaults saved in Stash's Tasks page (never the
# stash-box API keys: Stash uses its own).
IDENTIFY_CONFIGURATION = (
    """
query IdentifyConfiguration {
  configuration {
    general { stashBoxes { endpoint name } }
    defaults {
      identify {
        sources { source { stash_box_endpoint scraper_id } options { """
    + (IDENTIFY_OPTIONS_FIELDS)
    + """ } }
        options { """
    + IDENTIFY_OPTIONS_FIELDS
    + """ }
      }
    }
  }
}
"""
)

STOP_JOB = """
mutation StopJob($job_id: ID!) {
  stopJob(job_id: $job_id)
}
"""

DOCUMENTS: dict[str, str] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper()
    and isinstance(value, str)
    and name not in ("SCENE_FIELDS", "JOB_FIELDS", "IDENTIFY_OPTIONS_FIELDS")
}
