// The orders handler of `scripts/bench` written with Powertools for AWS Lambda (TypeScript):
// `POST /orders` made idempotent on the `Idempotency-Key` header by `makeIdempotent` and its
// DynamoDB persistence layer, payload validation on the body, the order written to the same table.
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';

const problem = (title) => ({
  statusCode: 400,
  headers: { 'content-type': 'application/problem+json' },
  body: JSON.stringify({ type: 'invalid-order', title, status: 400 }),
});

/** The same checks as Oncely's `parse_new_order`. */
function parseOrder(body) {
  let value;
  try {
    value = JSON.parse(body ?? '');
  } catch {
    return { error: problem('The body must be valid JSON') };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: problem('The body must be a JSON object') };
  }
  const { item, quantity, customer } = value;
  if (typeof item !== 'string' || item.trim() === '' || [...item].length > 100) {
    return { error: problem('`item` must be a string of 1 to 100 characters') };
  }
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > 1000) {
    return { error: problem('`quantity` must be an integer from 1 to 1000') };
  }
  if (customer != null && (typeof customer !== 'string' || [...customer].length > 200)) {
    return { error: problem('`customer` must be a string of at most 200 characters') };
  }
  return { order: { item, quantity, customer: customer ?? null } };
}

/**
 * An idempotent orders handler over `tableName` (hash key `id`, shared by records and orders).
 * `clientConfig` configures its DynamoDB client; `localCache` turns Powertools' LRU cache on.
 */
export function createHandler({ tableName, clientConfig, localCache }) {
  const client = new DynamoDBClient(clientConfig);
  const documents = DynamoDBDocumentClient.from(client);
  const persistenceStore = new DynamoDBPersistenceLayer({
    tableName,
    awsSdkV3Client: client,
  });
  const config = new IdempotencyConfig({
    eventKeyJmesPath: 'headers."idempotency-key"',
    payloadValidationJmesPath: 'body',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: 86400,
    useLocalCache: localCache,
    maxLocalCacheSize: 256,
  });
  const orders = async (event) => {
    const { order, error } = parseOrder(event.body);
    if (error) return error;
    const id = randomUUID();
    const created = {
      id,
      ...order,
      status: 'created',
      created_at: new Date().toISOString(),
    };
    await documents.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...created, id: `order#${id}`, order_id: id },
      }),
    );
    return {
      statusCode: 201,
      headers: { 'content-type': 'application/json', location: `/orders/${id}` },
      body: JSON.stringify(created),
    };
  };
  return makeIdempotent(orders, { persistenceStore, config });
}
