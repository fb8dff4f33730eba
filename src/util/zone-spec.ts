/**
 * What makes a shared-dictionary zone's name and size: one rule for the config (which parses
 * `shdict`) and the zones' facade (which checks what it hands the addon).
 */

/** A zone name usable as `ngx.shared.NAME`: a letter or _, then letters, digits, _; 63 at most. */
export const ZONE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** nginx's minimum zone size, and tsresty's maximum (zone offsets are 32-bit). */
export const ZONE_MIN_SIZE = 8 * 1024;
export const ZONE_MAX_SIZE = 2 * 1024 ** 3;
