//! The store as the daemon holds it: ready, unavailable with a reason, or
//! off; every operation async: short answers journalled on the caller's
//! thread, commits and evictions on the store's writer thread, reads on
//! the blocking pool.

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use futures_util::future::{BoxFuture, Shared};

use crate::wire::blocks::{FrameSink, InputFrames};

use super::journal::Appended;
use super::{
    Answer, Db, ListQuery, OpenError, Page, StoreError, StoreMode, StoreOptions, StoredResponse,
    now_millis,
};

/// How long the writer lets journalled answers gather before it writes
/// them to the database in one transaction: under load, many at once;
/// nothing waits for it (a read writes them first).
const JOURNAL_BATCH: Duration = Duration::from_millis(10);

/// The daemon's response store. Cloning shares it.
#[derive(Debug, Clone)]
pub enum Store {
    Ready(Db),
    /// Opening failed; the daemon serves on without state and requests that
    /// need it get [`StoreError::Unavailable`] naming why.
    Unavailable {
        reason: Arc<str>,
    },
    /// `store` mode `off`: nothing is written, reads answer [`StoreError::Off`].
    Off,
}

impl Store {
    /// Opens the store `options` describe; a failure is typed so the caller
    /// can tell the user what to fix.
    pub fn open(options: &StoreOptions) -> Result<Store, OpenError> {
        match options.mode {
            StoreMode::Off => Ok(Store::Off),
            StoreMode::Disk | StoreMode::Memory => Db::open(options).map(Store::Ready),
        }
    }

    /// [`Store::open`], turning a failure into a warning and a store that
    /// answers every stateful request with the reason.
    pub fn open_or_warn(options: &StoreOptions) -> Store {
        Store::open(options).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "serving without stored responses");
            Store::Unavailable {
                reason: e.to_string().into(),
            }
        })
    }

    /// Whether responses are being kept.
    pub fn is_ready(&self) -> bool {
        matches!(self, Store::Ready(_))
    }

    /// Commits `response`; once this returns `Ok` it survives a crash, so call
    /// it before the answer's last byte goes out. With the store off there is
    /// nothing to keep and this is `Ok`; unavailable, it is the error (warn,
    /// and answer anyway). Eviction, when due, runs afterwards in the background.
    pub async fn put(&self, response: StoredResponse) -> Result<(), StoreError> {
        self.put_with_input(response, None).await
    }

    /// This turn's input, the JSON text of its list as the client sent it,
    /// to keep with the answer: checked and, when long, its blocks named
    /// on the blocking pool from now on, while the backend answers, so the
    /// commit does not wait for that.
    pub fn name_input(&self, input: bytes::Bytes) -> Input {
        self.name(input, None)
    }

    /// [`Store::name_input`] for an input that goes to the backend as it
    /// is: when long, the sink given back takes its frames as the body is
    /// compressed ([`crate::wire::blocks::Blocks::compress_around`]), and
    /// the store keeps those as its new blocks instead of compressing the
    /// same text again. Drop the sink unsent, and it compresses them itself.
    pub fn name_sent_input(&self, input: bytes::Bytes) -> (Input, Option<FrameSink>) {
        if !super::blocks::is_long(&input) || !self.is_ready() {
            return (self.name(input, None), None);
        }
        let (sink, frames) = std::sync::mpsc::sync_channel(1);
        (self.name(input, Some(frames)), Some(sink))
    }

    fn name(&self, input: bytes::Bytes, frames: Option<Receiver<InputFrames>>) -> Input {
        use futures_util::FutureExt;
        let long = super::blocks::is_long(&input);
        let Ok(db) = self.db().cloned() else {
            // Nothing will be kept: nothing to name.
            return Input(futures_util::future::ready(None).boxed().shared());
        };
        let name = move || {
            let mut names = std::str::from_utf8(&input)
                .ok()
                .map(|text| super::blocks::names(text.as_bytes()))?;
            if let Some(names) = &mut names {
                db.compress_missing(&input, names, frames);
            }
            Some((input, names))
        };
        if !long {
            // Checked at once: no blocks to name, and a hop to another
            // thread would cost more than the check.
            return Input(futures_util::future::ready(name()).boxed().shared());
        }
        let named = tokio::task::spawn_blocking(name);
        Input(named.map(|named| named.ok().flatten()).boxed().shared())
    }

    /// [`Store::put`] with this turn's input as the JSON text of its list,
    /// written as it came ([`Db::put_with_input`]); `None`: `response.input`.
    pub async fn put_with_input(
        &self,
        response: StoredResponse,
        input: Option<bytes::Bytes>,
    ) -> Result<(), StoreError> {
        let input = match input {
            Some(input) => input,
            None => serde_json::to_vec(&response.input)?.into(),
        };
        self.put_named(response, self.name_input(input)).await
    }

    /// [`Store::put_with_input`] with an input [`Store::name_input`] took.
    pub async fn put_named(
        &self,
        response: StoredResponse,
        input: Input,
    ) -> Result<(), StoreError> {
        if matches!(self, Store::Off) {
            return Ok(());
        }
        self.put_answer(Answer::of(&response)?, input).await
    }

    /// Commits `answer` with an input [`Store::name_input`] took (one that
    /// is not UTF-8 is kept as an empty list); once this returns `Ok` it
    /// survives a crash of the process. A short answer is journalled here,
    /// in one `write`, and the writer moves it to the database with those
    /// that follow it closely; a long one is committed on the writer.
    pub async fn put_answer(&self, answer: Answer, input: Input) -> Result<(), StoreError> {
        if matches!(self, Store::Off) {
            return Ok(());
        }
        let db = self.db()?.clone();
        let writer = db.writer()?;
        let (text, names) = input
            .0
            .await
            .unwrap_or_else(|| (bytes::Bytes::from_static(b"[]"), None));
        if names.is_none()
            && let Ok(text) = std::str::from_utf8(&text)
            && let Appended::Yes(first) = db.journal(&answer, text, now_millis())
        {
            if first {
                let settler = db.clone();
                writer.submit(move || {
                    std::thread::sleep(JOURNAL_BATCH);
                    if settler.settle(now_millis()) {
                        settler.evict_logged(now_millis());
                    }
                })?;
            }
            return Ok(());
        }
        let committer = db.clone();
        let due = writer
            .run(move || {
                let now = now_millis();
                match std::str::from_utf8(&text) {
                    Ok(text) => committer.put_answer(&answer, text, names.as_deref(), now),
                    Err(_) => committer.put_answer(&answer, "[]", None, now),
                }
            })
            .await??;
        if due {
            let evictor = db.clone();
            writer.submit(move || evictor.evict_logged(now_millis()))?;
        }
        Ok(())
    }

    /// The stored response, `None` when unknown, deleted or expired.
    pub async fn get(&self, id: &str) -> Result<Option<StoredResponse>, StoreError> {
        let id = id.to_owned();
        run(self.db()?.clone(), move |db| db.get(&id, now_millis())).await
    }

    /// Deletes a response; `false` when there was none to delete.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_owned();
        run(self.db()?.clone(), move |db| db.delete(&id, now_millis())).await
    }

    /// The items that made up a response's input, earlier turns included,
    /// one page of them; `None` when the response is unknown.
    pub async fn input_items(
        &self,
        id: &str,
        query: ListQuery,
    ) -> Result<Option<Page>, StoreError> {
        let id = id.to_owned();
        let db = self.db()?.clone();
        run(db, move |db| match db.input_items(&id, now_millis())? {
            Some(items) => super::list::paginate(items, &query).map(Some),
            None => Ok(None),
        })
        .await
    }

    /// The stateless input for a request continuing `previous_response_id`:
    /// every earlier turn's input and output items, oldest first, then
    /// `new_input`. Instructions are not inherited (nor are they here).
    /// Parsed; requests use [`Store::expand_raw`].
    #[cfg(test)]
    pub async fn expand(
        &self,
        previous_response_id: &str,
        new_input: Vec<serde_json::Value>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let id = previous_response_id.to_owned();
        run(self.db()?.clone(), move |db| {
            let mut items = db.expand(&id, now_millis())?;
            items.extend(new_input);
            Ok(items)
        })
        .await
    }

    /// The items to send before a new input that continues
    /// `previous_response_id`, every earlier turn's input and output, oldest
    /// first, as JSON text: the stored inputs' items as they were sent.
    pub async fn expand_raw(
        &self,
        previous_response_id: &str,
    ) -> Result<super::Expanded, StoreError> {
        let id = previous_response_id.to_owned();
        run(self.db()?.clone(), move |db| {
            db.expand_raw(&id, now_millis())
        })
        .await
    }

    /// Drops expired responses and, past the size bound, the least recently
    /// used: for a periodic timer. Does nothing unless the store is ready.
    pub async fn sweep(&self) -> Result<super::Evicted, StoreError> {
        match self {
            Store::Ready(db) => run(db.clone(), |db| db.evict(now_millis())).await,
            Store::Unavailable { .. } | Store::Off => Ok(super::Evicted::default()),
        }
    }

    /// Sweeps every `period` until dropped: the daemon's timer, so a store
    /// nobody writes to still loses its expired responses. Returns at once
    /// unless the store is ready. The first sweep waits a full period:
    /// expired responses are invisible anyway, and the first write after a
    /// start sweeps too.
    pub async fn sweep_every(self, period: Duration) {
        if !self.is_ready() {
            return;
        }
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            match self.sweep().await {
                Ok(done) if done.responses > 0 => tracing::debug!(
                    responses = done.responses,
                    bytes = done.bytes,
                    "swept stored responses"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sweeping stored responses failed"),
            }
        }
    }

    fn db(&self) -> Result<&Db, StoreError> {
        match self {
            Store::Ready(db) => Ok(db),
            Store::Unavailable { reason } => Err(StoreError::Unavailable {
                reason: reason.clone(),
            }),
            Store::Off => Err(StoreError::Off),
        }
    }
}

/// An input's text, checked to be UTF-8, and the names of its blocks
/// when it is long.
type NamedInput = (bytes::Bytes, Option<Vec<super::blocks::Name>>);

/// An input on its way to being kept: see [`Store::name_input`]. It
/// comes to `None` when it is not UTF-8 (then the items the response
/// holds are kept). Clones share the one job.
#[derive(Clone)]
pub struct Input(Shared<BoxFuture<'static, Option<NamedInput>>>);

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Input")
    }
}

async fn run<T, F>(db: Db, job: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || job(&db)).await?
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn the_daemons_timer_sweeps_expired_responses_away() {
        let options = StoreOptions {
            mode: StoreMode::Memory,
            ttl: Duration::from_secs(3600),
            ..StoreOptions::default()
        };
        let db = Db::open(&options).unwrap();
        let response = json!({"id": "resp_old", "status": "completed", "output": []});
        let old = StoredResponse::new(response, vec![json!({"role": "user", "content": "hi"})]);
        // Written two hours ago, so already past the TTL; no write since to sweep it.
        db.put(&old.unwrap(), now_millis() - 2 * 3_600_000).unwrap();
        assert!(db.stored_bytes() > 0);
        let timer = tokio::spawn(Store::Ready(db.clone()).sweep_every(Duration::from_millis(10)));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while db.stored_bytes() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "never swept");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        timer.abort();
    }

    #[tokio::test]
    async fn a_store_that_is_not_ready_has_no_timer_to_run() {
        let off = Store::Off.sweep_every(Duration::from_millis(1));
        tokio::time::timeout(Duration::from_secs(1), off)
            .await
            .unwrap();
    }
}
