//! Orders and their callers: an authenticated caller is the order's `customer` and its owner
//! (stored apart from `customer`, in [`OWNER_ATTRIBUTE`]); only the owner can read an owned order.

use crate::orders::NewOrder;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::http::StatusCode;
use oncely::{Caller, Problem};
use std::collections::HashMap;

/// The order item's attribute naming its owner (the creator's `sub`). Only the function writes
/// it, never from the body: an anonymous order has none, whatever its `customer` says.
pub const OWNER_ATTRIBUTE: &str = "owner";

/// Applies the caller to a validated body: with a subject, `customer` must be absent or that
/// subject, and becomes it; anonymous orders keep the body's `customer` as it is.
pub fn customer_from_caller(order: NewOrder, caller: &Caller) -> Result<NewOrder, Problem> {
    let Some(sub) = caller.subject() else {
        return Ok(order);
    };
    match order.customer.as_deref() {
        None => Ok(NewOrder {
            customer: Some(sub.to_string()),
            ..order
        }),
        Some(customer) if customer == sub => Ok(order),
        Some(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-order",
            "`customer` must be omitted or equal to the subject of your token",
        )
        .with_detail(
            "With a token, an order's customer comes from the token's `sub` claim, never from the body: \
            omit `customer`",
        )),
    }
}

/// Who may read a stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Created anonymously: readable by anyone with its id, as before auth existed.
    Nobody,
    /// Created by this subject: readable by it only.
    Subject(String),
    /// An owner attribute that is not a string: readable by no one (it fails closed).
    Unreadable,
}

impl Owner {
    /// The owner recorded in an order item.
    pub fn of_item(item: &HashMap<String, AttributeValue>) -> Owner {
        match item.get(OWNER_ATTRIBUTE) {
            None => Owner::Nobody,
            Some(AttributeValue::S(sub)) => Owner::Subject(sub.clone()),
            Some(_) => Owner::Unreadable,
        }
    }

    /// Whether `caller` may read the order (anyone else gets the same 404 as for a missing order).
    pub fn allows(&self, caller: &Caller) -> bool {
        match self {
            Owner::Nobody => true,
            Owner::Subject(owner) => caller.subject() == Some(owner.as_str()),
            Owner::Unreadable => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(customer: Option<&str>) -> NewOrder {
        NewOrder {
            item: "book".into(),
            quantity: 1,
            customer: customer.map(str::to_string),
        }
    }

    #[test]
    fn anonymous_orders_keep_the_body_customer() {
        assert_eq!(
            customer_from_caller(order(None), &Caller::Anonymous).unwrap(),
            order(None)
        );
        assert_eq!(
            customer_from_caller(order(Some("ann")), &Caller::Anonymous).unwrap(),
            order(Some("ann"))
        );
    }

    #[test]
    fn a_subject_is_the_customer() {
        let alice = Caller::Subject("alice".into());
        assert_eq!(customer_from_caller(order(None), &alice).unwrap(), order(Some("alice")));
        assert_eq!(
            customer_from_caller(order(Some("alice")), &alice).unwrap(),
            order(Some("alice"))
        );
        for other in ["bob", "", "Alice", "alice "] {
            let problem = customer_from_caller(order(Some(other)), &alice).unwrap_err();
            assert_eq!(problem.status, 400);
            assert!(problem.title.contains("`customer`"), "{}", problem.title);
            assert!(problem.detail.unwrap().contains("token"));
        }
    }

    #[test]
    fn owners_read_their_orders_and_anonymous_orders_stay_public() {
        let alice = Caller::Subject("alice".into());
        let bob = Caller::Subject("bob".into());
        let public = Owner::of_item(&HashMap::from([("customer".into(), AttributeValue::S("alice".into()))]));
        assert_eq!(public, Owner::Nobody, "a client-supplied customer owns nothing");
        for caller in [&alice, &bob, &Caller::Anonymous] {
            assert!(public.allows(caller));
        }
        let owned = Owner::of_item(&HashMap::from([(
            OWNER_ATTRIBUTE.into(),
            AttributeValue::S("alice".into()),
        )]));
        assert!(owned.allows(&alice));
        assert!(!owned.allows(&bob));
        assert!(!owned.allows(&Caller::Anonymous));
        let odd = Owner::of_item(&HashMap::from([(OWNER_ATTRIBUTE.into(), AttributeValue::Null(true))]));
        assert_eq!(odd, Owner::Unreadable);
        assert!(!odd.allows(&alice) && !odd.allows(&Caller::Anonymous));
    }
}
