//! The pool's lending rules, without sockets: one turn of a conversation at
//! a time, a bound on conversations, and a turn that never gave its socket
//! back leaving nothing behind.

use std::time::Duration;

use super::pool::Pool;

#[tokio::test]
async fn a_conversation_is_lent_to_one_turn_at_a_time() {
    let pool = Pool::new(4, Duration::from_secs(60));
    let first = pool.lease("a").unwrap();
    assert!(pool.lease("a").is_none());
    assert!(pool.lease("b").is_some());
    assert_eq!(pool.status().len(), 1, "the lease of b ended with it");
    assert!(pool.status()[0].in_turn);
    drop(first);
    assert!(pool.status().is_empty());
    assert!(
        pool.lease("a")
            .is_some_and(|l| l.held.is_none() && l.base.is_none())
    );
}

#[tokio::test]
async fn past_the_bound_with_every_conversation_in_a_turn_the_next_goes_elsewhere() {
    let pool = Pool::new(2, Duration::from_secs(60));
    let _a = pool.lease("a").unwrap();
    let _b = pool.lease("b").unwrap();
    assert!(pool.lease("c").is_none());
}
