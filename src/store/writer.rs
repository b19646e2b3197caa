//! The store's writer: one thread of its own that runs every commit, every
//! move of journalled answers into the database, and eviction, in order.
//! Commits do not fsync (`synchronous = NORMAL`), so what a commit costs is
//! copying its rows into SQLite; on the blocking pool a long input's
//! copying happened on whichever thread was free, each keeping its own
//! malloc arena of freed MiB, which is most of what four long kept
//! requests at once added to the daemon's memory. One thread keeps that in
//! one place, and a commit waits only for the jobs queued ahead of it,
//! never for an fsync.

use std::sync::mpsc;

use super::StoreError;

type Job = Box<dyn FnOnce() + Send>;

/// The queue to the writer thread; the thread ends when the last sender
/// (the store) is dropped.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(super) fn start() -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })
            .map_err(|_| StoreError::WriterStopped)?;
        Ok(Writer { jobs })
    }

    /// Runs `job` on the writer thread after the jobs queued before it,
    /// and hands back its result. A caller that goes away does not cancel
    /// it: a commit that started finishes.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.submit(move || {
            let _ = done.send(job());
        })?;
        result.await.map_err(|_| StoreError::WriterStopped)
    }

    /// Queues `job` without waiting for it.
    pub(super) fn submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
        self.jobs
            .send(Box::new(job))
            .map_err(|_| StoreError::WriterStopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_on_one_thread_that_is_not_the_callers() {
        let writer = Writer::start().unwrap();
        let caller = std::thread::current().id();
        let (tx, rx) = mpsc::channel();
        for n in 0..20 {
            let tx = tx.clone();
            writer
                .submit(move || tx.send((n, std::thread::current().id())).unwrap())
                .unwrap();
        }
        let last = writer.run(|| std::thread::current().id()).await.unwrap();
        let seen: Vec<_> = rx.try_iter().collect();
        assert_eq!(
            seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..20).collect::<Vec<_>>()
        );
        assert!(seen.iter().all(|(_, id)| *id == last && *id != caller));
    }
}
