//! The daemon's log records, caught in process. The in-process `TestProxy`
//! logs through `tracing`; one global subscriber, installed by the first
//! capture, hands each record to the capture of the thread that logged it
//! (a `#[tokio::test]` runs the daemon's tasks on its own thread) and is
//! disabled on every other thread. A global subscriber rather than a
//! thread-scoped one: `tracing` caches whether a call site is wanted, and a
//! scoped subscriber racing another test's first use of a call site can
//! leave it cached as unwanted.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// One log record: its fields by name (the message under `message`).
pub type Record = BTreeMap<String, String>;

/// Records caught so far on one thread, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Records(Arc<Mutex<Vec<Record>>>);

thread_local! {
    /// Where this thread's records go while it captures.
    static SINK: RefCell<Option<Records>> = const { RefCell::new(None) };
}

/// Captures this thread's records until dropped.
#[derive(Debug)]
pub struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        SINK.with(|sink| sink.borrow_mut().take());
    }
}

impl Records {
    /// Catches every record logged on this thread until the guard is dropped.
    pub fn capture() -> (Records, Capturing) {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            let subscriber = Registry::default().with(Catch);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in the tests");
        });
        let records = Records::default();
        SINK.with(|sink| *sink.borrow_mut() = Some(records.clone()));
        (records, Capturing)
    }

    /// The summary records ("request finished") that `wanted` keeps, oldest first.
    pub fn summaries(&self, wanted: impl Fn(&Record) -> bool) -> Vec<Record> {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .filter(|r| r.get("message").map(String::as_str) == Some("request finished"))
            .filter(|r| wanted(r))
            .cloned()
            .collect()
    }
}

fn capturing() -> bool {
    SINK.with(|sink| sink.borrow().is_some())
}

struct Catch;

impl<S: tracing::Subscriber> Layer<S> for Catch {
    /// Asked again for every event: whether its thread captures changes.
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        capturing()
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut record = Record::new();
        event.record(&mut Fields(&mut record));
        SINK.with(|sink| {
            if let Some(records) = &*sink.borrow() {
                records.0.lock().unwrap().push(record);
            }
        });
    }
}

struct Fields<'a>(&'a mut Record);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}
