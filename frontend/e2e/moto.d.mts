// Types of moto.mjs for the TypeScript tests.
export interface MotoServer {
  /** `http://127.0.0.1:<port>/` */
  endpoint: string;
  stop(): Promise<void>;
}
export interface CognitoPool {
  poolId: string;
  clientId: string;
  issuer: string;
  subs: Record<string, string>;
}
export function motoUnavailable(): string | undefined;
export function startMoto(readyMs?: number): Promise<MotoServer>;
export function cognitoCorsFront(motoEndpoint: string): Promise<{ endpoint: string; close(): Promise<void> }>;
export function cognitoAdmin(endpoint: string, action: string, body: unknown): Promise<Record<string, unknown>>;
export function cognitoPool(endpoint: string, users?: Record<string, string>): Promise<CognitoPool>;
export function cognitoUser(
  endpoint: string,
  poolId: string,
  email: string,
  password: string,
  permanent: boolean,
): Promise<string>;
