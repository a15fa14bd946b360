//! [`Refresher`]: one task that keeps many sessions fresh, for servers that want every token valid ahead of
//! use (the default is to refresh on use, which costs idle sessions nothing).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt as _;

use crate::CloudBase;
use crate::core::Core;

/// Refreshes the sessions of many apps (usually session scopes, see
/// [`CloudBase::session_scope`]) from one place: each pass looks at every watched session and refreshes
/// those about to expire, at most `concurrency` at once. Sessions are held weakly: dropping an app stops
/// watching it. No task or timer exists per session.
///
/// ```no_run
/// # async fn demo(app: cloudbase::CloudBase) -> Result<(), cloudbase::Error> {
/// use std::time::Duration;
/// let refresher = cloudbase::Refresher::new(32);
/// let player = app.session_scope("player-42")?;
/// refresher.watch(&player);
/// let _task = refresher.clone().spawn(Duration::from_secs(30)); // stops when dropped
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Refresher {
    watched: Mutex<Vec<Weak<Core>>>,
    concurrency: usize,
}

/// What one [`Refresher::refresh_due`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefreshPass {
    /// Sessions still watched (apps not dropped).
    pub watched: usize,
    /// Sessions that were due and were refreshed.
    pub refreshed: usize,
    /// Sessions that were due and could not be refreshed (kept; tried again next pass).
    pub failed: usize,
}

/// The task of [`Refresher::spawn`]; dropping it stops the passes.
#[derive(Debug)]
#[must_use = "dropping the handle stops the refresher"]
pub struct RefresherTask(tokio::task::JoinHandle<()>);

impl Drop for RefresherTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Refresher {
    /// A refresher that refreshes at most `concurrency` sessions at once (at least 1).
    pub fn new(concurrency: usize) -> Arc<Self> {
        Arc::new(Refresher { watched: Mutex::new(Vec::new()), concurrency: concurrency.max(1) })
    }

    /// Watches `app`'s session (weakly).
    pub fn watch(&self, app: &CloudBase) {
        self.watched.lock().unwrap_or_else(|e| e.into_inner()).push(Arc::downgrade(app.core()));
    }

    /// One pass: refreshes every watched session that expires within its app's refresh margin.
    pub async fn refresh_due(&self) -> RefreshPass {
        let live: Vec<Arc<Core>> = {
            let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
            watched.retain(|core| core.strong_count() > 0);
            watched.iter().filter_map(Weak::upgrade).collect()
        };
        let mut due = Vec::new();
        for core in &live {
            // A scope nobody used yet is read from the store once (later passes find it loaded).
            if core.session.ensure_loaded().await.is_ok()
                && core.session.current().is_some_and(|s| s.needs_refresh(core.session.margin))
            {
                due.push(Arc::clone(core));
            }
        }
        let results: Vec<bool> = futures::stream::iter(due)
            .map(|core| async move { matches!(core.fresh_session().await, Ok(Some(_))) })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let refreshed = results.iter().filter(|ok| **ok).count();
        RefreshPass { watched: live.len(), refreshed, failed: results.len() - refreshed }
    }

    /// Runs a pass every `interval` on one Tokio task, until the returned handle is dropped.
    pub fn spawn(self: Arc<Self>, interval: Duration) -> RefresherTask {
        RefresherTask(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let pass = self.refresh_due().await;
                tracing::debug!(?pass, "refresher pass");
            }
        }))
    }
}
