// The Data Portability API resource groups (73 advertised, from the API's discovery document),
// plus two groups seen in older discovery documents that are accepted but never advertised.
// A group and its OAuth scope correspond 1:1: scope = SCOPE_PREFIX + group.

export const SCOPE_PREFIX = 'https://www.googleapis.com/auth/dataportability.';

export const RESOURCE_GROUPS = [
  'alerts.subscriptions',
  'chrome.autofill',
  'chrome.bookmarks',
  'chrome.dictionary',
  'chrome.extensions',
  'chrome.history',
  'chrome.reading_list',
  'chrome.settings',
  'discover.follows',
  'discover.likes',
  'discover.not_interested',
  'maps.aliased_places',
  'maps.commute_routes',
  'maps.commute_settings',
  'maps.ev_profile',
  'maps.factual_contributions',
  'maps.offering_contributions',
  'maps.photos_videos',
  'maps.questions_answers',
  'maps.reviews',
  'maps.starred_places',
  'maps.vehicle_profile',
  'myactivity.maps',
  'myactivity.myadcenter',
  'myactivity.play',
  'myactivity.search',
  'myactivity.shopping',
  'myactivity.youtube',
  'mymaps.maps',
  'nest.camera_event',
  'nest.camera_feature',
  'nest.camera_video',
  'nest.store',
  'nest.user',
  'order_reserve.purchases_reservations',
  'pixel.device_data',
  'play.devices',
  'play.grouping',
  'play.installs',
  'play.library',
  'play.playpoints',
  'play.promotions',
  'play.purchases',
  'play.redemptions',
  'play.subscriptions',
  'play.usersettings',
  'saved.collections',
  'search_ugc.comments',
  'search_ugc.media.reviews_and_stars',
  'search_ugc.media.streaming_video_providers',
  'search_ugc.media.thumbs',
  'search_ugc.media.watched',
  'searchnotifications.settings',
  'searchnotifications.subscriptions',
  'shopping.addresses',
  'shopping.reviews',
  'streetview.imagery',
  'youtube.channel',
  'youtube.clips',
  'youtube.comments',
  'youtube.conversations',
  'youtube.live_chat',
  'youtube.music',
  'youtube.playable',
  'youtube.posts',
  'youtube.private_playlists',
  'youtube.private_videos',
  'youtube.public_playlists',
  'youtube.public_videos',
  'youtube.shopping',
  'youtube.subscriptions',
  'youtube.unlisted_playlists',
  'youtube.unlisted_videos',
] as const;

export const LEGACY_RESOURCE_GROUPS = ['businessmessaging.conversations', 'maps.post_trip_feedback'] as const;

export type ResourceGroup = (typeof RESOURCE_GROUPS)[number] | (typeof LEGACY_RESOURCE_GROUPS)[number];

const ALL: ReadonlySet<string> = new Set<string>([...RESOURCE_GROUPS, ...LEGACY_RESOURCE_GROUPS]);

export function isResourceGroup(value: string): value is ResourceGroup {
  return ALL.has(value);
}

export function scopeOf(group: ResourceGroup): string {
  return SCOPE_PREFIX + group;
}

/** The group of a `dataportability.*` scope, or undefined for any other scope. */
export function groupOfScope(scope: string): ResourceGroup | undefined {
  if (!scope.startsWith(SCOPE_PREFIX)) return undefined;
  const group = scope.slice(SCOPE_PREFIX.length);
  return isResourceGroup(group) ? group : undefined;
}

/**
 * Groups Google documents time filters for (My Activity, Chrome history, Google Play): a scheduled
 * export of these starts where the last delivered one ended; any other group exports a full
 * snapshot each time.
 */
export function supportsTimeFilter(group: string): boolean {
  return group.startsWith('myactivity.') || group === 'chrome.history' || group.startsWith('play.');
}
