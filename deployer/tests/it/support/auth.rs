//! The shared checks of the `api.auth` tests: the API's routes with their authorization, its
//! authorizer, the Cognito user pools, and a Cognito stack converged to exactly a clean `up`'s.

use std::collections::BTreeMap;

use deployer::context::Context;

use super::{REGION, World, tags_ok};

/// Every route of the one API: key -> (authorization type, authorizer id, route id).
pub async fn routes(ctx: &Context) -> BTreeMap<String, (String, Option<String>, String)> {
    let api_id = api_id(ctx).await;
    let routes = ctx.apigw.get_routes().api_id(&api_id).send().await.unwrap();
    routes
        .items()
        .iter()
        .map(|r| {
            let t = r.authorization_type().map_or("NONE", |t| t.as_str()).to_string();
            // AWS clears the authorizer of a NONE route; moto keeps the old id: only JWT's counts.
            let id = r.authorizer_id().filter(|_| t == "JWT").map(str::to_string);
            (
                r.route_key().unwrap().to_string(),
                (t, id, r.route_id().unwrap().to_string()),
            )
        })
        .collect()
}

pub async fn api_id(ctx: &Context) -> String {
    let apis = ctx.apigw.get_apis().send().await.unwrap();
    assert_eq!(apis.items().len(), 1, "one API");
    apis.items()[0].api_id().unwrap().to_string()
}

/// The user pools named `name`, by id.
pub async fn pools(ctx: &Context, name: &str) -> Vec<String> {
    let out = ctx.cognito.list_user_pools().max_results(60).send().await.unwrap();
    out.user_pools()
        .iter()
        .filter(|p| p.name() == Some(name))
        .map(|p| p.id().unwrap().to_string())
        .collect()
}

/// The authorizer protecting `POST /orders`.
pub async fn authorizer(ctx: &Context) -> aws_sdk_apigatewayv2::operation::get_authorizer::GetAuthorizerOutput {
    let id = routes(ctx).await["POST /orders"]
        .1
        .clone()
        .expect("POST /orders is protected");
    ctx.apigw
        .get_authorizer()
        .api_id(api_id(ctx).await)
        .authorizer_id(id)
        .send()
        .await
        .unwrap()
}

/// The Cognito side of a clean `up` with [`super::AUTH_COGNITO`]: one pool, tagged, with one public
/// app client, and the authorizer for both on `POST /orders` only. Returns the pool's id.
pub async fn assert_cognito_converged(w: &World, k: usize) -> String {
    let ctx = w.ctx();
    let name = w.name();
    let ids = pools(&ctx, &name).await;
    assert_eq!(ids.len(), 1, "k={k}: pools named {name}: {ids:?}");
    let pool_id = ids[0].clone();
    let pool = ctx
        .cognito
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<String, String> = pool
        .user_pool()
        .and_then(|p| p.user_pool_tags())
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    assert!(tags_ok(&tags, &w.app), "k={k}: pool tags {tags:?}");
    let clients = ctx
        .cognito
        .list_user_pool_clients()
        .user_pool_id(&pool_id)
        .max_results(60)
        .send()
        .await
        .unwrap();
    let clients: Vec<&str> = clients
        .user_pool_clients()
        .iter()
        .filter_map(|c| c.client_id())
        .collect();
    assert_eq!(clients.len(), 1, "k={k}: app clients {clients:?}");
    let a = authorizer(&ctx).await;
    assert_eq!(a.name(), Some(name.as_str()), "k={k}");
    let jwt = a.jwt_configuration().unwrap();
    assert_eq!(
        jwt.issuer(),
        Some(format!("https://cognito-idp.{REGION}.amazonaws.com/{pool_id}").as_str()),
        "k={k}"
    );
    assert_eq!(jwt.audience(), [clients[0]], "k={k}");
    let r = routes(&ctx).await;
    assert_eq!(r["POST /orders"].1.as_deref(), a.authorizer_id(), "k={k}");
    assert_eq!(r["GET /orders/{id}"].0, "NONE", "k={k}");
    pool_id
}
