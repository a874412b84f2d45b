//! The context every resource works with: the SDK clients, the account and region, and the
//! progress reporter. Built once per command from the standard AWS configuration chain.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;

use crate::error::{DeployError, Result, aws};
use crate::progress::Progress;

#[derive(Clone)]
pub struct Context {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigw: aws_sdk_apigatewayv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sts: aws_sdk_sts::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The function's secrets: looked up, never read.
    pub ssm: aws_sdk_ssm::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// `api.domain`: certificates looked up, alias records in the hosted zone.
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
    /// The Resource Groups Tagging API (`stages` finds resources by their tags).
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub progress: Progress,
    pub region: String,
    pub account: String,
}

impl Context {
    /// Loads the standard chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...), checks that there
    /// are credentials and a region, and asks STS who we are (the account goes into every ARN).
    pub async fn connect(region: Option<&str>, progress: Progress) -> Result<Context> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(crate::http_client::shared());
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_string()));
        }
        let sdk = loader.load().await;
        let region = sdk.region().ok_or(DeployError::NoRegion)?.to_string();
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| DeployError::NoCredentials("no credentials provider is configured".into()))?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| DeployError::NoCredentials(Box::new(e)))?;
        let mut ctx = Context::from_sdk_config(&sdk, region, String::new(), progress);
        let who = ctx
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws("GetCallerIdentity", "the current credentials", e))?;
        ctx.account = who
            .account()
            .ok_or_else(|| DeployError::Other("STS GetCallerIdentity returned no account id".into()))?
            .to_string();
        Ok(ctx)
    }

    /// Builds the clients from an already loaded configuration.
    pub fn from_sdk_config(sdk: &SdkConfig, region: String, account: String, progress: Progress) -> Context {
        Context {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            lambda: aws_sdk_lambda::Client::new(sdk),
            apigw: aws_sdk_apigatewayv2::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            tagging: aws_sdk_resourcegroupstagging::Client::new(sdk),
            acm: aws_sdk_acm::Client::new(sdk),
            route53: aws_sdk_route53::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            secretsmanager: aws_sdk_secretsmanager::Client::new(sdk),
            progress,
            region,
            account,
        }
    }

    /// The ARN partition of the region (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }
}
