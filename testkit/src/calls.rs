//! [`Calls`]: an SDK interceptor that records the name of every operation a client sends.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Records the operation name (`PutItem`, `GetRole`, ...) of every HTTP attempt a client makes,
/// for any service: the name comes from the operation [`Metadata`] the SDK puts in the config bag.
/// Once per attempt, so a retried call counts as two round trips. Clones share one record.
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    /// The operations recorded so far, in order; the record starts empty again.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// How many attempts were recorded (and not taken yet).
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "testkit::Calls"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg.load::<Metadata>().map_or("Unknown", Metadata::name);
        self.0.lock().unwrap().push(name.to_string());
        Ok(())
    }
}
