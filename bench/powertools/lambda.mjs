// The Lambda entry point of the Powertools orders handler: configured from the environment
// (`TABLE_NAME`, `AWS_REGION`, credentials, `AWS_ENDPOINT_URL_DYNAMODB`) when the module loads.
import { createHandler } from './orders.mjs';

export const handler = createHandler({
  tableName: process.env.TABLE_NAME,
  clientConfig: {},
  localCache: true,
});
