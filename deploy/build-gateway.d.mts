/** Types of deploy/build-gateway.mjs for the TypeScript build script. */
export function bundleGateway(outfile: string, entry?: string, version?: string): Promise<void>;
export function releaseGateway(opts: {
  outdir: string;
  version: string;
  privateKeyPem: string;
}): Promise<{ manifest: string; signature: string; artifact: string; sha256: string }>;
