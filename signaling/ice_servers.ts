/**
 * The ICE servers each peer gets in `joined`, built from the configuration.
 *
 * @module
 */
import type { Config } from "./config.ts";
import type { IceServer } from "./protocol.ts";

/** Returns the function that lists ICE servers for a peer. */
export function createIceServers(
  config: Pick<Config, "stunUrls">,
): (peerId: string) => IceServer[] {
  const servers: IceServer[] = [];
  if (config.stunUrls.length > 0) servers.push({ urls: config.stunUrls });
  return () => servers.map((server) => ({ ...server }));
}
