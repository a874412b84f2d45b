//! Validation of `queues:`: each queue's short name (unique, short enough for its dead-letter
//! queue's name), batch size, receives before the dead-letter queue, and a visibility timeout
//! that is never below the function's timeout (SQS would hand a message to a second
//! environment while the first still works on it).

use super::QueueSettings;
use super::raw::{QUEUE_BATCH_SIZE, QUEUE_MAX_RECEIVE_COUNT, QUEUE_NAME_MAX, QUEUE_VISIBILITY_MAX_S, RawQueue};
use super::validate::Validator;

impl Validator {
    /// `queues`, read against the function's timeout.
    pub(super) fn queues(&mut self, queues: Option<Vec<RawQueue>>, timeout_s: i32) -> Vec<QueueSettings> {
        let mut out: Vec<QueueSettings> = Vec::new();
        for (i, q) in queues.unwrap_or_default().into_iter().enumerate() {
            let path = |key: &str| format!("queues[{i}].{key}");
            let name = self.name_part(&path("name"), q.name, QUEUE_NAME_MAX);
            if out.iter().any(|o| o.name == name) {
                self.problem(&path("name"), format!("{name:?} is the name of another queue"));
            }
            let batch_size = self.int(&path("batch_size"), q.batch_size, QUEUE_BATCH_SIZE, " messages");
            let max_receive_count = self.int(
                &path("max_receive_count"),
                q.max_receive_count,
                QUEUE_MAX_RECEIVE_COUNT,
                " receives",
            );
            let default_visibility = (i64::from(timeout_s) * 6).min(QUEUE_VISIBILITY_MAX_S);
            let visibility = q.visibility_timeout_s.unwrap_or(default_visibility);
            if visibility < i64::from(timeout_s) || visibility > QUEUE_VISIBILITY_MAX_S {
                self.problem(
                    &path("visibility_timeout_s"),
                    format!(
                        "{visibility} is out of range: use {timeout_s}..{QUEUE_VISIBILITY_MAX_S} seconds (at least \
                        function.timeout_s, so a message is not handed out again while it is being processed; \
                        AWS advises six times it)"
                    ),
                );
            }
            out.push(QueueSettings {
                name,
                batch_size: batch_size as u32,
                max_receive_count: max_receive_count as u32,
                visibility_timeout_s: visibility.clamp(0, QUEUE_VISIBILITY_MAX_S) as u32,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use crate::test_problems as problems;

    #[test]
    fn queues_take_defaults_from_the_function() {
        let yaml = "app: shop\nstage: dev\nfunction: { timeout_s: 10 }\nqueues:\n  - name: payments\n  \
            - { name: refunds, batch_size: 1, max_receive_count: 5, visibility_timeout_s: 30 }\n";
        let config = Config::parse(yaml).unwrap();
        let got: Vec<(&str, u32, u32, u32)> = config
            .queues
            .iter()
            .map(|q| {
                (
                    q.name.as_str(),
                    q.batch_size,
                    q.max_receive_count,
                    q.visibility_timeout_s,
                )
            })
            .collect();
        assert_eq!(got, [("payments", 10, 3, 60), ("refunds", 1, 5, 30)]);
        assert!(Config::parse("app: shop\nstage: dev\n").unwrap().queues.is_empty());
    }

    #[test]
    fn bad_queues_are_named() {
        let p = problems(
            "function: { timeout_s: 20 }\nqueues:\n  - { name: Pay }\n  - { name: a, batch_size: 11 }\n  \
            - { name: a, visibility_timeout_s: 19 }\n  - { max_receive_count: 0 }\n  \
            - { name: a-name-that-is-far-too-long-for-sqs }\n",
        );
        let paths: Vec<&str> = p.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "queues[0].name",
                "queues[1].batch_size",
                "queues[2].name",
                "queues[2].visibility_timeout_s",
                "queues[3].name",
                "queues[3].max_receive_count",
                "queues[4].name",
            ]
        );
        assert!(p[2].1.contains("another queue"), "{p:?}");
        assert!(p[3].1.contains("at least function.timeout_s"), "{p:?}");
    }
}
