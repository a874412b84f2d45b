//! CreateFunction is retried while IAM has not propagated a new role (a mocked Lambda client fails
//! the first calls with that error code), and gives up with a clear message when it never stops.

use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::create_function::{CreateFunctionError, CreateFunctionOutput};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::types::error::InvalidParameterValueException;
use aws_sdk_lambda::types::{FunctionConfiguration, LastUpdateStatus, State};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use deployer::config::Config;
use deployer::context::Context;
use deployer::package::Artifact;
use deployer::progress::Progress;
use deployer::resources::function::{self, Backoff};
use deployer::stack::Stack;

fn propagation_error() -> CreateFunctionError {
    CreateFunctionError::InvalidParameterValueException(
        InvalidParameterValueException::builder()
            .message("The role defined for the function cannot be assumed by Lambda.")
            .build(),
    )
}

fn context(lambda: Client) -> Context {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let mut ctx = Context::from_sdk_config(&sdk, "us-east-1".into(), "123456789012".into(), Progress::silent());
    ctx.lambda = lambda;
    ctx
}

fn stack(ctx: &Context) -> Stack {
    Stack::new(&Config::parse("app: retry\nstage: test\n").unwrap(), ctx)
}

fn code() -> Artifact {
    let bytes = deployer::package::zip_bootstrap(b"bootstrap").unwrap();
    Artifact {
        path: "bootstrap.zip".into(),
        sha256: deployer::package::sha256_b64(&bytes),
        bytes,
        glibc: None,
        built_with: "test".into(),
    }
}

const FAST: Backoff = Backoff {
    attempts: 5,
    first: Duration::from_millis(1),
    cap: Duration::from_millis(4),
};

/// CreateFunction against a Lambda client that `create` alone answers; the error it ends with.
async fn create_error(create: &Rule) -> String {
    let ctx = context(mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [create]));
    let stack = stack(&ctx);
    function::create(&ctx, &stack, &code(), FAST)
        .await
        .unwrap_err()
        .to_string()
}

#[tokio::test]
async fn create_function_is_retried_until_the_role_propagates() {
    let create = mock!(Client::create_function)
        .sequence()
        .error(propagation_error)
        .times(3)
        .output(|| CreateFunctionOutput::builder().function_name("retry-test").build())
        .build();
    let active = mock!(Client::get_function).then_output(|| {
        GetFunctionOutput::builder()
            .configuration(
                FunctionConfiguration::builder()
                    .state(State::Active)
                    .last_update_status(LastUpdateStatus::Successful)
                    .build(),
            )
            .build()
    });
    let ctx = context(mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&create, &active]));
    let stack = stack(&ctx);
    function::create(&ctx, &stack, &code(), FAST)
        .await
        .expect("created after three propagation errors");
    assert_eq!(create.num_calls(), 4);
    assert!(active.num_calls() >= 1, "waited for State=Active");
}

#[tokio::test]
async fn create_function_gives_up_with_a_clear_message() {
    let create = mock!(Client::create_function).then_error(propagation_error);
    let err = create_error(&create).await;
    assert_eq!(create.num_calls(), 5, "bounded by the backoff's attempts");
    assert!(
        err.contains("CreateFunction on function retry-test failed: InvalidParameterValueException"),
        "{err}"
    );
    assert!(
        err.contains("retried 5 times") && err.contains("trusts lambda.amazonaws.com"),
        "{err}"
    );
}

#[tokio::test]
async fn other_errors_are_not_retried() {
    let create = mock!(Client::create_function).then_error(|| {
        CreateFunctionError::CodeStorageExceededException(
            aws_sdk_lambda::types::error::CodeStorageExceededException::builder()
                .message("full")
                .build(),
        )
    });
    let err = create_error(&create).await;
    assert_eq!(create.num_calls(), 1);
    assert!(err.contains("CodeStorageExceededException"), "{err}");
}
