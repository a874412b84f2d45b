// Cold start probe for `cold_start`: loads the Powertools handler module as Lambda's Node runtime
// does, then asks the local Runtime API for its first invocation (the moment it is ready).
import http from 'node:http';
import './lambda.mjs';

http
  .get(`http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next`, (response) =>
    response.resume(),
  )
  .on('error', () => process.exit(1));
