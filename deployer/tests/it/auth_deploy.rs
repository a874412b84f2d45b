//! `api.auth` deployed, end to end against moto: the Cognito user pool and app client, the HTTP
//! API's JWT authorizer on the protected routes, in-place updates, the no-op second `up`, the
//! outputs for the frontend, and `down` keeping a pool that has users.

use crate::support;

use std::collections::BTreeMap;

use deployer::config::Config;
use deployer::engine;
use deployer::stack::Stack;
use support::auth::*;
use support::*;

const JWT: &str = "  auth:\n    jwt: { issuer: \"https://issuer.example.com/\", audience: [web] }\n    \
                   public_routes: [\"GET /orders/{id}\"]\n";

/// A world whose config has `auth` (YAML lines under `api:`).
fn world_with(app: &str, auth: &str) -> World {
    let w = World::new(app);
    w.set_auth(auth);
    w
}

#[tokio::test]
async fn cognito_up_creates_pool_client_and_authorizer_and_a_second_up_sends_no_write() {
    let w = world_with("authc", AUTH_COGNITO);
    let zip = w.zip("v1");
    let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    assert_eq!(
        rows(&plan, "create"),
        rows(&report, "create"),
        "up creates what plan said"
    );
    let name = w.name();
    for row in [
        format!("user pool {name}"),
        format!("user pool client {name}"),
        format!("authorizer {name}"),
    ] {
        assert!(rows(&report, "create").contains(&row), "{row} in {report:#}");
    }
    // With the version, the alias and the three alarms.
    assert_eq!(counts(&report), (19, 0, 0), "{report:#}");
    let ctx = w.ctx();

    // The pool: email sign-in, verified, tagged.
    let ids = pools(&ctx, &name).await;
    assert_eq!(ids.len(), 1, "one pool named {name}");
    let pool_id = &ids[0];
    let pool = ctx
        .cognito
        .describe_user_pool()
        .user_pool_id(pool_id)
        .send()
        .await
        .unwrap();
    let pool = pool.user_pool().unwrap();
    let tags: BTreeMap<String, String> = pool
        .user_pool_tags()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(tags_ok(&tags, "authc"), "{tags:?}");
    assert_eq!(pool.username_attributes()[0].as_str(), "email");
    assert_eq!(pool.auto_verified_attributes()[0].as_str(), "email");

    // The app client: public, browser flows.
    let clients = ctx
        .cognito
        .list_user_pool_clients()
        .user_pool_id(pool_id)
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(clients.user_pool_clients().len(), 1);
    let client_id = clients.user_pool_clients()[0].client_id().unwrap().to_string();
    let client = ctx
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(&client_id)
        .send()
        .await
        .unwrap();
    let client = client.user_pool_client().unwrap();
    assert_eq!(client.client_name(), Some(name.as_str()));
    assert!(client.client_secret().is_none(), "a public client has no secret");
    let mut flows: Vec<&str> = client
        .explicit_auth_flows()
        .iter()
        .map(aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType::as_str)
        .collect();
    flows.sort_unstable();
    assert_eq!(
        flows,
        [
            "ALLOW_REFRESH_TOKEN_AUTH",
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_USER_SRP_AUTH"
        ]
    );
    assert_eq!(
        client
            .prevent_user_existence_errors()
            .map(aws_sdk_cognitoidentityprovider::types::PreventUserExistenceErrorTypes::as_str),
        Some("ENABLED")
    );

    // The authorizer: JWT from the pool for the client, on the protected route only.
    let issuer = format!("https://cognito-idp.{REGION}.amazonaws.com/{pool_id}");
    let a = authorizer(&ctx).await;
    assert_eq!(a.name(), Some(name.as_str()));
    assert_eq!(a.authorizer_type().unwrap().as_str(), "JWT");
    assert_eq!(a.identity_source(), ["$request.header.Authorization"]);
    let jwt = a.jwt_configuration().unwrap();
    assert_eq!(jwt.issuer(), Some(issuer.as_str()));
    assert_eq!(jwt.audience(), std::slice::from_ref(&client_id));
    let r = routes(&ctx).await;
    assert_eq!(
        (r["POST /orders"].0.as_str(), r["POST /orders"].1.as_deref()),
        ("JWT", a.authorizer_id())
    );
    assert_eq!(
        (r["GET /orders/{id}"].0.as_str(), &r["GET /orders/{id}"].1),
        ("NONE", &None)
    );

    // Outputs: the report and the frontend's env file.
    assert_eq!(report["auth"]["issuer"], issuer);
    assert_eq!(report["auth"]["client_id"], client_id);
    let env = std::fs::read_to_string(w.env_file()).unwrap();
    for line in [
        "VITE_AUTH_MODE=cognito".to_string(),
        format!("VITE_AUTH_ISSUER={issuer}"),
        format!("VITE_AUTH_CLIENT_ID={client_id}"),
    ] {
        assert!(env.lines().any(|l| l == line), "{line} in {env}");
    }
    std::fs::write(w.env_file(), "# mine\nVITE_AUTH_CLIENT_ID=stale\n").unwrap();
    let synced = w.json(&["sync-endpoint"]);
    assert_eq!(synced["auth"]["client_id"], client_id);
    let env = std::fs::read_to_string(w.env_file()).unwrap();
    assert_eq!(
        env,
        format!(
            "# mine\nVITE_AUTH_CLIENT_ID={client_id}\nVITE_API_URL={}\n\
             VITE_AUTH_MODE=cognito\nVITE_AUTH_ISSUER={issuer}\n",
            report["endpoint"].as_str().unwrap()
        )
    );
    let text = stdout(&w.run(&["up", "--zip", zip.to_str().unwrap()]));
    assert!(
        text.contains(&issuer) && text.contains(&client_id),
        "up prints the issuer and the client id: {text}"
    );

    // A second up: reads only, no write.
    let config = Config::load(&w.config_path()).unwrap();
    let (recorded, calls) = w.recorded_ctx();
    let stack = Stack::new(&config, &recorded);
    let code = deployer::package::Artifact::from_zip(&zip).unwrap();
    let again = engine::up(&recorded, &stack, &code, Default::default()).await.unwrap();
    assert!(!again.applied && !again.has_changes(), "{again}");
    assert_eq!(again.auth.as_ref().unwrap().issuer, issuer);
    let sent = calls.take();
    for read in [
        "ListUserPools",
        "DescribeUserPool",
        "ListUserPoolClients",
        "DescribeUserPoolClient",
        "GetAuthorizer",
    ] {
        assert!(sent.iter().any(|c| c == read), "the recorder saw no {read}: {sent:?}");
    }
    let writes: Vec<&String> = sent.iter().filter(|c| !is_read(c)).collect();
    assert!(writes.is_empty(), "a converged stack got writes: {writes:?}");
    assert_eq!(pools(&ctx, &name).await.len(), 1, "no second pool");
}

#[tokio::test]
async fn jwt_routes_and_issuer_change_in_place_and_removing_auth_deletes_the_authorizer() {
    let w = world_with("authj", JWT);
    let zip = w.zip("v1");
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    assert_eq!(counts(&report), (17, 0, 0), "no Cognito resources: {report:#}");
    assert_eq!(report["auth"]["issuer"], "https://issuer.example.com/");
    assert!(report["auth"].get("client_id").is_none(), "{report:#}");
    let env = std::fs::read_to_string(w.env_file()).unwrap();
    for line in [
        "VITE_AUTH_MODE=jwt",
        "VITE_AUTH_ISSUER=https://issuer.example.com/",
        "VITE_AUTH_CLIENT_ID=web",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} in {env}");
    }
    let ctx = w.ctx();
    assert!(pools(&ctx, &w.name()).await.is_empty(), "jwt: creates no user pool");
    let a = authorizer(&ctx).await;
    let jwt = a.jwt_configuration().unwrap();
    assert_eq!(
        (jwt.issuer(), jwt.audience()),
        (Some("https://issuer.example.com/"), &["web".to_string()][..])
    );
    let authorizer_id = a.authorizer_id().unwrap().to_string();
    let before = routes(&ctx).await;
    assert_eq!(before["GET /orders/{id}"].0, "NONE");

    // Public -> protected: that route is updated in place.
    w.set_auth("  auth:\n    jwt: { issuer: \"https://issuer.example.com/\", audience: [web] }\n");
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    assert_eq!(counts(&report), (0, 1, 0), "{report:#}");
    assert_eq!(rows(&report, "update"), ["route GET /orders/{id}"]);
    assert_eq!(attrs(&report, "route"), ["authorization"]);
    let after = routes(&ctx).await;
    assert_eq!(after["GET /orders/{id}"].2, before["GET /orders/{id}"].2, "same route");
    assert_eq!(after["GET /orders/{id}"].1.as_deref(), Some(authorizer_id.as_str()));

    // A new issuer and audience: the authorizer is updated in place.
    w.set_auth("  auth:\n    jwt: { issuer: \"https://login.example.org/tenant\", audience: [web, mobile] }\n");
    let plan = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    assert_eq!(plan["changes"], report["changes"], "up does what plan said");
    assert_eq!(rows(&report, "update"), [format!("authorizer {}", w.name())]);
    assert_eq!(attrs(&report, "authorizer"), ["issuer", "audience"]);
    let a = authorizer(&ctx).await;
    assert_eq!(a.authorizer_id(), Some(authorizer_id.as_str()), "same authorizer");
    let jwt = a.jwt_configuration().unwrap();
    assert_eq!(jwt.issuer(), Some("https://login.example.org/tenant"));
    let mut audience = jwt.audience().to_vec();
    audience.sort();
    assert_eq!(audience, ["mobile", "web"]);
    let again = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    assert_eq!(counts(&again), (0, 0, 0), "{again:#}");

    // No more `api.auth`: the routes are opened, then the authorizer deleted; CORS's default
    // headers no longer include `authorization`.
    w.set_auth("");
    let report = w.json(&["up", "--zip", zip.to_str().unwrap()]);
    assert_eq!(counts(&report), (0, 3, 1), "{report:#}");
    let mut updated = rows(&report, "update");
    updated.sort();
    assert_eq!(
        updated,
        [
            format!("http api {}", w.name()),
            "route GET /orders/{id}".to_string(),
            "route POST /orders".to_string()
        ],
        "{report:#}"
    );
    assert_eq!(attrs(&report, "http api"), ["cors"]);
    assert_eq!(
        rows(&report, "delete"),
        [format!("authorizer {} ({authorizer_id})", w.name())]
    );
    assert!(routes(&ctx).await.values().all(|(t, _, _)| t == "NONE"));
    let gone = ctx
        .apigw
        .get_authorizer()
        .api_id(api_id(&ctx).await)
        .authorizer_id(&authorizer_id)
        .send()
        .await;
    assert!(
        gone.is_err_and(|e| e
            .as_service_error()
            .is_some_and(aws_sdk_apigatewayv2::operation::get_authorizer::GetAuthorizerError::is_not_found_exception)),
        "the authorizer is deleted"
    );
    let again = w.json(&["plan", "--zip", zip.to_str().unwrap()]);
    assert_eq!(counts(&again), (0, 0, 0), "{again:#}");
    assert_eq!(again["unchanged"], 16, "the stack without auth: {again:#}");
}

#[tokio::test]
async fn down_keeps_a_pool_with_users_unless_delete_data() {
    let w = world_with("authd", AUTH_COGNITO);
    let zip = w.zip("v1");
    w.json(&["up", "--zip", zip.to_str().unwrap()]);
    let ctx = w.ctx();
    let name = w.name();
    let pool_id = pools(&ctx, &name).await.remove(0);
    let authorizer_id = authorizer(&ctx).await.authorizer_id().unwrap().to_string();
    ctx.cognito
        .admin_create_user()
        .user_pool_id(&pool_id)
        .username("someone@example.com")
        .send()
        .await
        .unwrap();

    let report = w.json(&["down", "--yes"]);
    assert_eq!(
        rows(&report, "delete"),
        [
            format!("alarm {name}-errors"),
            format!("alarm {name}-failed"),
            format!("alarm {name}-throttles"),
            format!("http api {name}"),
            format!("authorizer {name} ({authorizer_id})"),
            format!("permission {name}-apigateway-invoke"),
            format!("function {name}"),
            format!("log group /aws/lambda/{name}"),
            format!("role policy {name}-access"),
            format!("role {name}"),
        ],
        "{report:#}"
    );
    let note = |kind: &str| {
        report["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["resource"] == kind)
            .map(|c| c["note"].as_str().unwrap_or_default().to_string())
            .unwrap()
    };
    assert!(note("table").contains("deletion protection is on"), "{report:#}");
    assert!(note("user pool").contains("still has users"), "{report:#}");
    assert!(note("user pool client").contains("still has users"), "{report:#}");
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains(&format!("user pool {name} kept"))),
        "{report:#}"
    );
    assert_eq!(
        pools(&ctx, &name).await,
        std::slice::from_ref(&pool_id),
        "the pool with a user is kept"
    );

    let report = w.json(&["down", "--yes", "--delete-data"]);
    assert_eq!(
        rows(&report, "delete"),
        [
            format!("user pool client {name}"),
            format!("user pool {name}"),
            format!("table {name}"),
        ]
    );
    assert!(pools(&ctx, &name).await.is_empty());
    let again = w.run(&["down", "--yes"]);
    assert!(stdout(&again).contains("Nothing to delete"), "{}", stdout(&again));
}
