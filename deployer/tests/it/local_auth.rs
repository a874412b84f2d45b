//! `api.auth` in `up --local`, end to end through the real deployer binary: the local issuer
//! (`cognito`), a `jwt` issuer the API reads keys from, API Gateway's 401 for every refused token
//! (and nothing created), claims for valid ones, public routes, and `deployer token`.

use crate::local_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use local_support::{Extra, LocalStack, StackOptions, header, table_ids, up_local};
use oncely_local::issuer::{Issuer, LOCAL_CLIENT_ID};
use serde_json::{Value, json};

const BODY: &str = r#"{"item":"book","quantity":2}"#;
const COGNITO: &str = "  auth: { cognito: {}, public_routes: [\"GET /orders/{id}\"] }\n";

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `deployer token --config <config> <args>`.
fn token_command(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["token", "--config"])
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running deployer token")
}

/// A token with the given header over the claims of `valid`, and `signature` as its signature.
fn forged(valid: &str, header: Value, signature: &[u8]) -> String {
    let claims = valid.split('.').nth(1).unwrap();
    format!("{}.{claims}.{}", b64(header.to_string().as_bytes()), b64(signature))
}

/// Asserts API Gateway's 401 for a refused token, with its `www-authenticate` reason.
async fn assert_refused(stack: &LocalStack, authorization: Option<&str>, key: &str, reason: Option<&str>) {
    let mut headers = vec![("content-type", "application/json"), ("idempotency-key", key)];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    let (status, h, body) = stack.request("POST", "/orders", &headers, BODY).await;
    assert_eq!(status, 401, "{key}: {}", String::from_utf8_lossy(&body));
    assert_eq!(&body[..], br#"{"message":"Unauthorized"}"#, "{key}");
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert!(header(&h, "apigw-requestid").is_some());
    let expected = match reason {
        None => "Bearer".to_string(),
        Some(r) => format!(r#"Bearer scope="" error="invalid_token" error_description="{r}""#),
    };
    assert_eq!(header(&h, "www-authenticate"), Some(expected.as_str()), "{key}");
}

/// `api.auth: cognito`: the local issuer, its contract for the frontend, `token`, and every way
/// a token is refused before the function runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cognito_auth_runs_a_local_issuer_and_the_api_checks_its_tokens() {
    let mut stack = LocalStack::start_with(
        StackOptions {
            app: "loc-auth",
            concurrency: 1,
            timeout_s: 10,
            shared_dynamodb: true,
        },
        &Extra {
            api_yaml: COGNITO,
            ..Extra::default()
        },
    );
    // The startup output names the issuer and the audience.
    let out = stack.stdout.text();
    let line = out
        .lines()
        .find(|l| l.starts_with("Auth: local issuer http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no auth line: {out}"));
    assert!(line.contains(&format!("audience {LOCAL_CLIENT_ID}")), "{line}");
    assert!(line.contains("public routes: GET /orders/{id}"), "{line}");
    let issuer = line["Auth: local issuer ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let env_file = std::fs::read_to_string(&stack.dir.env_file).unwrap();
    assert!(env_file.contains("VITE_AUTH_MODE=local\n"), "{env_file}");
    assert!(env_file.contains(&format!("VITE_AUTH_ISSUER={issuer}\n")), "{env_file}");

    // Discovery and key set.
    let (status, _, body) = stack
        .request_url("GET", &format!("{issuer}/.well-known/openid-configuration"), &[], "")
        .await;
    assert_eq!(status, 200);
    let discovery = json_of(&body);
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["RS256"]));
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    let (status, _, body) = stack.request_url("GET", jwks_uri, &[], "").await;
    assert_eq!(status, 200);
    let jwks = json_of(&body);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");

    // POST /token, the frontend's contract, with CORS for api.cors.allow_origins.
    let origin = ("origin", "http://localhost:5173");
    let (status, h, _) = stack
        .request_url(
            "OPTIONS",
            &format!("{issuer}/token"),
            &[
                origin,
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            "",
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(header(&h, "access-control-allow-origin"), Some("http://localhost:5173"));
    assert!(header(&h, "access-control-allow-methods").unwrap().contains("POST"));
    let (status, h, body) = stack
        .request_url(
            "POST",
            &format!("{issuer}/token"),
            &[origin, ("content-type", "application/json")],
            r#"{"sub":"alice","ttl_s":3600}"#,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "access-control-allow-origin"), Some("http://localhost:5173"));
    let answer = json_of(&body);
    assert_eq!(
        (answer["token_type"].as_str(), answer["expires_in"].as_u64()),
        (Some("Bearer"), Some(3600))
    );
    let alice_from_endpoint = answer["access_token"].as_str().unwrap().to_string();
    let (status, _, body) = stack
        .request_url("POST", &format!("{issuer}/token"), &[], r#"{"sub":"a b","ttl_s":0}"#)
        .await;
    assert_eq!(status, 400);
    assert_eq!(json_of(&body)["error"], "invalid_request");

    // `deployer token` prints the token alone.
    let out = token_command(&stack.dir.config, &["--sub", "alice", "--ttl", "10m"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let alice = stdout.trim().to_string();
    assert_eq!(alice.split('.').count(), 3, "{alice}");
    let out = token_command(&stack.dir.config, &["--sub", "bob"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bob = String::from_utf8(out.stdout).unwrap().trim().to_string();

    // Refused: no token, a bad signature, another issuer, `alg: none`, HS256.
    assert_refused(&stack, None, "denied-1", None).await;
    assert_refused(&stack, Some("Bearer "), "denied-2", None).await;
    // One character in the middle of the signature changed (the last one also carries padding bits).
    let mut bad_signature = alice.clone().into_bytes();
    let at = alice.len() - 20;
    bad_signature[at] = if bad_signature[at] == b'A' { b'B' } else { b'A' };
    let bad_signature = String::from_utf8(bad_signature).unwrap();
    let (head, _) = alice.split_once('.').unwrap();
    let kid = json_of(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head).unwrap())["kid"].clone();
    assert_refused(
        &stack,
        Some(&format!("Bearer {bad_signature}")),
        "denied-3",
        Some("the token's signature is invalid"),
    )
    .await;
    let elsewhere = Issuer::start(LOCAL_CLIENT_ID, None, Default::default()).await.unwrap();
    let other = elsewhere.mint("alice", 60).unwrap();
    assert_refused(
        &stack,
        Some(&format!("Bearer {other}")),
        "denied-4",
        Some("the token's kid is not in the issuer's key set"),
    )
    .await;
    let none = forged(&alice, json!({"alg": "none", "typ": "JWT", "kid": kid}), b"");
    let hs256 = forged(&alice, json!({"alg": "HS256", "typ": "JWT", "kid": kid}), &[7; 32]);
    for (n, t) in [none, hs256].iter().enumerate() {
        assert_refused(
            &stack,
            Some(&format!("Bearer {t}")),
            &format!("denied-alg-{n}"),
            Some("the token's algorithm is not one of RS256, RS384, RS512"),
        )
        .await;
    }
    assert_eq!(
        table_ids("loc-auth-test").await,
        Vec::<String>::new(),
        "a refused request created something"
    );

    // A CORS preflight needs no token, and allows the `Authorization` header.
    let (status, h, _) = stack
        .request(
            "OPTIONS",
            "/orders",
            &[
                origin,
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type,idempotency-key",
                ),
            ],
            "",
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(header(&h, "access-control-allow-origin"), Some("http://localhost:5173"));
    assert!(
        header(&h, "access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );

    // Valid tokens reach the function: with `Bearer ` or alone, from `token` or POST /token.
    let s = &stack;
    let post = |auth: String, key: &'static str| async move {
        let headers = [
            ("content-type", "application/json"),
            ("idempotency-key", key),
            ("authorization", auth.as_str()),
        ];
        s.request("POST", "/orders", &headers, BODY).await
    };
    let (status, _, body) = post(format!("Bearer {alice}"), "shared-key").await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let alice_order = json_of(&body)["id"].as_str().unwrap().to_string();
    // The claims reach the function: bob's same key is his own record and his own order.
    let (status, _, body) = post(format!("Bearer {bob}"), "shared-key").await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let bob_order = json_of(&body)["id"].as_str().unwrap().to_string();
    assert_ne!(bob_order, alice_order, "bob got alice's order for the same key");
    assert_eq!(json_of(&body)["customer"], "bob");
    let (status, h, body) = post(format!("Bearer {alice}"), "shared-key").await;
    assert_eq!(
        (status.as_u16(), header(&h, "idempotent-replayed")),
        (201, Some("true"))
    );
    assert_eq!(
        json_of(&body)["id"],
        alice_order.as_str(),
        "alice's replay is her own order"
    );
    let (status, _, body) = post(alice_from_endpoint.clone(), "alice-2").await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(
        table_ids("loc-auth-test")
            .await
            .iter()
            .any(|id| id == &format!("order#{alice_order}")),
        "the order was created"
    );

    // The public route needs no token and reaches the function (its own problem+json 404), which
    // shows an anonymous caller nothing of alice's order: the same 404 as an order that is not there.
    let (status, h, missing) = stack.request("GET", "/orders/no-such-order", &[], "").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&missing));
    assert_eq!(header(&h, "content-type"), Some("application/problem+json"));
    let (status, _, body) = stack.request("GET", &format!("/orders/{alice_order}"), &[], "").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        body, missing,
        "the 404 for alice's order differs from a missing order's"
    );
    let log = stack.stdout.text_with(|l| l.starts_with("[api] POST /orders -> 401"));
    assert!(log.lines().any(|l| l.starts_with("[api] POST /orders -> 401")), "{log}");

    // Ctrl-C stops the issuer with the stack, and `token` says no stack runs.
    let port: u16 = issuer.rsplit(':').next().unwrap().parse().unwrap();
    assert!(stack.interrupt().success(), "{}", stack.stderr.text());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the issuer still listens"
    );
    let out = token_command(&stack.dir.config, &["--sub", "alice"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no local stack with auth runs for loc-auth-test"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `api.auth: jwt`: the API reads another issuer's discovery document and keys (an issuer started
/// here by the same code as the local one) and checks `iss`, `aud`, `exp` and `nbf` against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_auth_reads_the_issuers_keys_and_checks_every_claim() {
    let issuer = Issuer::start("web-app", None, Default::default()).await.unwrap();
    let auth = format!(
        "  auth: {{ jwt: {{ issuer: \"{}\", audience: [web-app, other-app] }} }}\n",
        issuer.url()
    );
    let stack = LocalStack::start_with(
        StackOptions {
            app: "loc-jwt",
            concurrency: 1,
            timeout_s: 10,
            shared_dynamodb: true,
        },
        &Extra {
            api_yaml: &auth,
            ..Extra::default()
        },
    );
    let out = stack.stdout.text();
    assert!(
        out.contains(&format!(
            "Auth: JWT issuer {} (audience web-app, other-app",
            issuer.url()
        )),
        "{out}"
    );
    let env_file = std::fs::read_to_string(&stack.dir.env_file).unwrap();
    assert!(env_file.contains("VITE_AUTH_MODE=jwt\n"), "{env_file}");

    let t = now();
    let claims = |extra: Value| {
        let mut c = json!({"iss": issuer.url(), "sub": "carol", "aud": "other-app", "iat": t - 5, "exp": t + 300});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        issuer.sign(&c).unwrap()
    };
    let refusals = [
        (claims(json!({"exp": t - 60})), "the token has expired"),
        (claims(json!({"nbf": t + 600})), "the token is not valid yet"),
        (
            claims(json!({"aud": "someone-else"})),
            "the token does not have a valid audience",
        ),
        (
            claims(json!({"iss": "http://127.0.0.1:1"})),
            "the token does not have a valid issuer",
        ),
    ];
    for (n, (token, reason)) in refusals.iter().enumerate() {
        assert_refused(
            &stack,
            Some(&format!("Bearer {token}")),
            &format!("jwt-denied-{n}"),
            Some(reason),
        )
        .await;
    }
    assert_eq!(
        table_ids("loc-jwt-test").await,
        Vec::<String>::new(),
        "a refused request created something"
    );

    for (key, token) in [
        ("jwt-1", claims(json!({}))),
        ("jwt-2", issuer.mint("dave", 60).unwrap()),
    ] {
        let (status, _, body) = stack
            .request(
                "POST",
                "/orders",
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", key),
                    ("authorization", &format!("Bearer {token}")),
                ],
                BODY,
            )
            .await;
        assert_eq!(status, 201, "{key}: {}", String::from_utf8_lossy(&body));
    }

    // `GET /orders/{id}` is protected here: carol reads her order, dave gets a 404, no token a 401.
    let get = |token: String, path: String| {
        let stack = &stack;
        async move {
            let auth = format!("Bearer {token}");
            stack
                .request("GET", &path, &[("authorization", auth.as_str())], "")
                .await
        }
    };
    let (_, _, body) = stack
        .request(
            "POST",
            "/orders",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "jwt-3"),
                ("authorization", &format!("Bearer {}", claims(json!({})))),
            ],
            BODY,
        )
        .await;
    let carols = format!("/orders/{}", json_of(&body)["id"].as_str().unwrap());
    let (status, _, body) = get(claims(json!({})), carols.clone()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body)["customer"], "carol");
    let (status, _, body) = get(issuer.mint("dave", 60).unwrap(), carols.clone()).await;
    assert_eq!(
        status,
        404,
        "dave read carol's order: {}",
        String::from_utf8_lossy(&body)
    );
    assert_refused_get(&stack, &carols).await;
}

/// A protected `GET` without a token: API Gateway's 401.
async fn assert_refused_get(stack: &LocalStack, path: &str) {
    let (status, _, body) = stack.request("GET", path, &[], "").await;
    assert_eq!(
        (status.as_u16(), &body[..]),
        (401, &br#"{"message":"Unauthorized"}"#[..])
    );
}

/// A `jwt` issuer that cannot be reached stops `up --local` at startup with a clear error.
#[test]
fn an_unreachable_jwt_issuer_is_a_clear_error() {
    let dead = testkit::closed_endpoint();
    let dir = StackOptions {
        app: "loc-jwt-dead",
        concurrency: 1,
        timeout_s: 3,
        shared_dynamodb: false,
    }
    .write_with(&format!("  auth: {{ jwt: {{ issuer: \"{dead}\", audience: [a] }} }}\n"));
    let port = emulators::free_port().unwrap();
    let out = up_local(port, &dir.config, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot read the discovery document of issuer {dead}")),
        "{stderr}"
    );
    assert!(stderr.contains("must be reachable"), "{stderr}");
}

/// `token`'s errors: bad `--sub` and `--ttl`, no auth in the config, no running stack.
#[test]
fn the_token_command_explains_what_is_wrong() {
    let opts = StackOptions {
        app: "loc-auth-none",
        concurrency: 1,
        timeout_s: 3,
        shared_dynamodb: false,
    };
    let with_auth = opts.write_with(COGNITO);
    let without = opts.write();
    let cases: [(&Path, &[&str], &str); 7] = [
        (
            &with_auth.config,
            &["--sub", ""],
            "--sub: sub must be 1..128 characters",
        ),
        (&with_auth.config, &["--sub", "al ice"], "contains ' '"),
        (
            &with_auth.config,
            &["--sub", "alice", "--ttl", "forever"],
            "is not a duration",
        ),
        (
            &with_auth.config,
            &["--sub", "alice", "--ttl", "10"],
            "is not a duration",
        ),
        (
            &with_auth.config,
            &["--sub", "alice", "--ttl", "48h"],
            "between 1 s and 86400 s",
        ),
        (
            &with_auth.config,
            &["--sub", "alice"],
            "no local stack with auth runs for loc-auth-none-test",
        ),
        (&without.config, &["--sub", "alice"], "has no `api.auth`"),
    ];
    for (config, args, expected) in cases {
        let out = token_command(config, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// DNS rebinding: a page on another name pointed at 127.0.0.1 sends its own `Host`. The API and
/// the local issuer answer only this machine's names and those given with `--allow-host`; any
/// other gets a 403 before routing, auth or the function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_this_machines_host_names_are_answered() {
    let stack = LocalStack::start_with(
        StackOptions {
            app: "loc-hosts",
            concurrency: 1,
            timeout_s: 10,
            shared_dynamodb: true,
        },
        &Extra {
            api_yaml: COGNITO,
            args: &["--allow-host", "dev.test"],
            ..Extra::default()
        },
    );
    let out = stack.stdout.text();
    let issuer = out
        .lines()
        .find_map(|l| l.strip_prefix("Auth: local issuer "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no auth line: {out}"))
        .to_string();
    let port = stack.port;
    let origin = ("origin", "http://evil.example");
    for host in ["evil.example", &format!("evil.example:{port}"), "127.0.0.1.nip.io"] {
        for (method, url) in [
            ("POST", format!("{}/orders", stack.endpoint)),
            ("OPTIONS", format!("{}/orders", stack.endpoint)),
            ("POST", format!("{issuer}/token")),
            ("GET", format!("{issuer}/.well-known/jwks.json")),
        ] {
            let (status, _, body) = stack
                .request_url(method, &url, &[("host", host), origin], r#"{"sub":"mallory"}"#)
                .await;
            let body = String::from_utf8_lossy(&body);
            assert_eq!(status, 403, "{method} {url} with Host {host}: {body}");
            assert!(body.contains("--allow-host"), "{body}");
            assert!(!body.contains("access_token"), "{body}");
        }
    }
    assert_eq!(stack.invocations(), 0, "nothing reached the function");
    // This machine's names and the allowed one pass the Host check (and meet the authorizer).
    for host in [
        format!("localhost:{port}"),
        format!("dev.test:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, _, body) = stack
            .request("POST", "/orders", &[("host", &host), ("idempotency-key", "h-1")], "{}")
            .await;
        assert_eq!(status, 401, "Host {host}: {}", String::from_utf8_lossy(&body));
    }
    let (status, _, body) = stack
        .request_url(
            "POST",
            &format!("{issuer}/token"),
            &[("host", "localhost")],
            r#"{"sub":"ann"}"#,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// A name `--allow-host` cannot use stops `up --local` before anything starts.
#[test]
fn a_bad_allow_host_is_refused_with_its_name() {
    let dir = StackOptions {
        app: "loc-hosts-bad",
        concurrency: 1,
        timeout_s: 10,
        shared_dynamodb: false,
    }
    .write();
    let output = up_local(
        emulators::free_port().unwrap(),
        &dir.config,
        &["--allow-host", "http://x.test"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--allow-host \"http://x.test\" is not a host name"),
        "{stderr}"
    );
}
