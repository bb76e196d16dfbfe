/**
 * The gateway software version, reported in the status and heartbeat messages (the hub's fleet
 * view and rollouts read it). The build writes it into the bundle (deploy/build-gateway.mjs
 * defines process.env.VIGIL_GATEWAY_BUILD_VERSION: the release version, else package.json's);
 * run from source it is "dev".
 */
export const GATEWAY_VERSION: string = process.env.VIGIL_GATEWAY_BUILD_VERSION ?? 'dev';
