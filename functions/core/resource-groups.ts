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

/** Whether a name is a group the connect flow accepts: one of the catalogue, or a legacy group. */
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

/** A title for people (the console, the README), per advertised group; a new group without one fails to compile. */
const TITLES: Readonly<Record<(typeof RESOURCE_GROUPS)[number], string>> = {
  'alerts.subscriptions': 'Google Alerts subscriptions',
  'chrome.autofill': 'Chrome autofill data',
  'chrome.bookmarks': 'Chrome bookmarks',
  'chrome.dictionary': 'Chrome custom dictionary',
  'chrome.extensions': 'Chrome extensions',
  'chrome.history': 'Chrome browsing history',
  'chrome.reading_list': 'Chrome reading list',
  'chrome.settings': 'Chrome settings',
  'discover.follows': 'Discover: followed topics',
  'discover.likes': 'Discover: liked content',
  'discover.not_interested': 'Discover: content marked not interested',
  'maps.aliased_places': 'Maps: labelled places (home, work)',
  'maps.commute_routes': 'Maps: commute routes',
  'maps.commute_settings': 'Maps: commute settings',
  'maps.ev_profile': 'Maps: electric vehicle profile',
  'maps.factual_contributions': 'Maps: factual contributions (edits, added places)',
  'maps.offering_contributions': 'Maps: offering contributions (menus, products)',
  'maps.photos_videos': 'Maps: contributed photos and videos',
  'maps.questions_answers': 'Maps: questions and answers',
  'maps.reviews': 'Maps: reviews',
  'maps.starred_places': 'Maps: starred places',
  'maps.vehicle_profile': 'Maps: vehicle profile',
  'myactivity.maps': 'My Activity: Maps',
  'myactivity.myadcenter': 'My Activity: My Ad Center',
  'myactivity.play': 'My Activity: Google Play',
  'myactivity.search': 'My Activity: Search',
  'myactivity.shopping': 'My Activity: Shopping',
  'myactivity.youtube': 'My Activity: YouTube',
  'mymaps.maps': 'My Maps: created maps',
  'nest.camera_event': 'Nest: camera events',
  'nest.camera_feature': 'Nest: camera features',
  'nest.camera_video': 'Nest: camera video history',
  'nest.store': 'Nest: store orders',
  'nest.user': 'Nest: account and home data',
  'order_reserve.purchases_reservations': 'Purchases and reservations',
  'pixel.device_data': 'Pixel device data',
  'play.devices': 'Google Play: devices',
  'play.grouping': 'Google Play: family and groups',
  'play.installs': 'Google Play: installed apps',
  'play.library': 'Google Play: library',
  'play.playpoints': 'Google Play: Play Points',
  'play.promotions': 'Google Play: promotions',
  'play.purchases': 'Google Play: purchase history',
  'play.redemptions': 'Google Play: redemptions',
  'play.subscriptions': 'Google Play: subscriptions',
  'play.usersettings': 'Google Play: user settings',
  'saved.collections': 'Saved: collections',
  'search_ugc.comments': 'Search: comments',
  'search_ugc.media.reviews_and_stars': 'Search: media reviews and ratings',
  'search_ugc.media.streaming_video_providers': 'Search: streaming providers',
  'search_ugc.media.thumbs': 'Search: media thumbs up and down',
  'search_ugc.media.watched': 'Search: media marked watched',
  'searchnotifications.settings': 'Search notifications: settings',
  'searchnotifications.subscriptions': 'Search notifications: subscriptions',
  'shopping.addresses': 'Shopping: addresses',
  'shopping.reviews': 'Shopping: reviews',
  'streetview.imagery': 'Street View: contributed imagery',
  'youtube.channel': 'YouTube: channel',
  'youtube.clips': 'YouTube: clips',
  'youtube.comments': 'YouTube: comments',
  'youtube.conversations': 'YouTube: conversations',
  'youtube.live_chat': 'YouTube: live chat messages',
  'youtube.music': 'YouTube Music: library',
  'youtube.playable': 'YouTube: Playables progress',
  'youtube.posts': 'YouTube: posts',
  'youtube.private_playlists': 'YouTube: private playlists',
  'youtube.private_videos': 'YouTube: private videos',
  'youtube.public_playlists': 'YouTube: public playlists',
  'youtube.public_videos': 'YouTube: public videos',
  'youtube.shopping': 'YouTube: shopping',
  'youtube.subscriptions': 'YouTube: subscriptions',
  'youtube.unlisted_playlists': 'YouTube: unlisted playlists',
  'youtube.unlisted_videos': 'YouTube: unlisted videos',
};

/** One entry of the resource-group catalogue (`GET /v1/resourceGroups`, the README table). */
export interface ResourceGroupEntry {
  /** What `resources` of a connect session or an export names: `myactivity.search`. */
  readonly name: (typeof RESOURCE_GROUPS)[number];
  readonly title: string;
  /** The OAuth scopes the consent page asks for this group (one per group). */
  readonly scopes: readonly string[];
  /**
   * Whether the user can grant it for 30 or 180 days (recurring exports) instead of once. Every
   * advertised group can; the user picks the duration on Google's consent page, and each consent
   * records what Google actually granted (`accessType` of its resources).
   */
  readonly timeBased: boolean;
  /** Whether an export may be limited to a time window (`startTime`/`endTime`), and scheduled exports are incremental. */
  readonly timeFilter: boolean;
}

/**
 * The catalogue of resource groups an application can ask for: the advertised groups, in
 * order. The legacy groups are accepted (`isResourceGroup`) but, like Google, not advertised.
 */
export const RESOURCE_GROUP_CATALOGUE: readonly ResourceGroupEntry[] = RESOURCE_GROUPS.map((name) =>
  Object.freeze({ name, title: TITLES[name], scopes: [scopeOf(name)], timeBased: true, timeFilter: supportsTimeFilter(name) }),
);
