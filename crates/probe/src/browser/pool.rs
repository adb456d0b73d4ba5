//! The one Chromium all browser checks share, the limit on how many run at
//! once, and the isolated page each run gets.
//!
//! The pool is the browser kind's state in the [`crate::ProbeContext`]:
//! created on first use, it starts Chromium when a run needs it and
//! starts it again when the last one died (crashed, killed because it
//! stopped answering, or started from another `[browser] executable`).
//! Each run opens its own browser context (cookies, storage and cache of
//! its own, like a private window) with one page, and closes both at the
//! end; a page that does not close in time takes the whole browser down
//! with it, so a stuck renderer cannot outlive its check. A browser that
//! left a browser-level command unanswered must say its version before
//! the next run may use it, or it is killed and started again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::cdp::{Browser, CdpError, PageEvents};

/// How long closing a page may take before the browser is given up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a suspect browser may take to say its version before it is
/// given up (a healthy one answers in milliseconds).
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a browser may take to start, at most (less when the check's
/// own deadline comes first).
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The browser kind's shared state.
#[derive(Default)]
pub(crate) struct BrowserPool {
    /// Held while a browser starts: only by runs that already have a turn.
    state: tokio::sync::Mutex<PoolState>,
    /// The run limit and the `max_concurrent` it is sized for; apart from
    /// `state` so that waiting for a turn never waits on a launch.
    limit: std::sync::Mutex<Option<(usize, Arc<Semaphore>)>>,
}

#[derive(Default)]
struct PoolState {
    browser: Option<Arc<Browser>>,
}

impl BrowserPool {
    /// Waits for a turn among `max_concurrent` runs, until `deadline`.
    pub(crate) async fn turn(
        &self,
        max_concurrent: usize,
        deadline: Instant,
    ) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut limit = match self.limit.lock() {
                Ok(l) => l,
                Err(poisoned) => poisoned.into_inner(),
            };
            match &mut *limit {
                Some((n, s)) => {
                    resize(s, *n, max_concurrent);
                    *n = max_concurrent;
                    Arc::clone(s)
                }
                None => {
                    let s = Arc::new(Semaphore::new(max_concurrent));
                    *limit = Some((max_concurrent, Arc::clone(&s)));
                    s
                }
            }
        };
        tokio::time::timeout_at(deadline, semaphore.acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// The running browser, started (again) when there is none, it died,
    /// or it was started from another executable.
    pub(crate) async fn browser(
        &self,
        executable: &Path,
        deadline: Instant,
    ) -> Result<Arc<Browser>, CdpError> {
        // Another run may be starting the browser: wait for it no longer
        // than this run's own deadline.
        let mut state = tokio::time::timeout_at(deadline, self.state.lock())
            .await
            .map_err(|_| CdpError::Timeout)?;
        if let Some(browser) = &state.browser
            && browser.is_alive()
            && browser.executable == executable
        {
            // A browser-level command went unanswered in some run: a
            // browser that does not even say its version is stuck.
            if !browser.is_suspect()
                || browser
                    .still_answers(deadline.min(Instant::now() + PING_TIMEOUT))
                    .await
            {
                return Ok(Arc::clone(browser));
            }
            tracing::warn!("the browser stopped answering; stopping it");
        }
        if let Some(old) = state.browser.take() {
            tracing::info!(executable = %old.executable.display(), "starting the browser again");
            old.kill();
        }
        let until = deadline.min(Instant::now() + LAUNCH_TIMEOUT);
        let browser = Arc::new(Browser::launch(executable, until).await?);
        tracing::info!(executable = %executable.display(), "browser started");
        state.browser = Some(Arc::clone(&browser));
        Ok(browser)
    }
}

/// Resizes a reloaded limit in place, so runs holding turns of the old
/// size still count: more turns are added at once, fewer are taken out of
/// use as running checks give theirs back.
fn resize(semaphore: &Arc<Semaphore>, from: usize, to: usize) {
    if to > from {
        semaphore.add_permits(to - from);
    } else if to < from {
        let now = semaphore.forget_permits(from - to);
        let later = from - to - now;
        if later > 0 {
            let semaphore = Arc::clone(semaphore);
            tokio::spawn(async move {
                let count = u32::try_from(later).unwrap_or(u32::MAX);
                if let Ok(permits) = semaphore.acquire_many_owned(count).await {
                    permits.forget();
                }
            });
        }
    }
}

/// One run's page: its own browser context and target, attached through a
/// flat session.
pub(crate) struct Page {
    pub(crate) browser: Arc<Browser>,
    context_id: String,
    target_id: String,
    pub(crate) session_id: String,
    pub(crate) events: Arc<PageEvents>,
    closed: bool,
    /// Already handed to a background close: if that task is dropped
    /// unrun (the runtime shutting down), the browser is stopped rather
    /// than another close spawned.
    closing_in_background: bool,
}

impl Page {
    /// Opens a page of `width` x `height` CSS pixels in a new context, with
    /// the events the run reads turned on.
    pub(crate) async fn open(
        browser: Arc<Browser>,
        (width, height): (u32, u32),
        deadline: Instant,
    ) -> Result<Page, CdpError> {
        let context = browser
            .call(
                None,
                "Target.createBrowserContext",
                json!({ "disposeOnDetach": true }),
                deadline,
            )
            .await?;
        let context_id = string_field(&context, "browserContextId")?;
        let target = browser
            .call(
                None,
                "Target.createTarget",
                json!({ "url": "about:blank", "browserContextId": context_id,
                        "width": width, "height": height }),
                deadline,
            )
            .await;
        let target_id = match target.and_then(|t| string_field(&t, "targetId")) {
            Ok(id) => id,
            Err(e) => {
                dispose_context(&browser, &context_id).await;
                return Err(e);
            }
        };
        let attached = browser
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
                deadline,
            )
            .await
            .and_then(|a| string_field(&a, "sessionId"));
        let session_id = match attached {
            Ok(id) => id,
            Err(e) => {
                close_target(&browser, &target_id).await;
                dispose_context(&browser, &context_id).await;
                return Err(e);
            }
        };
        let events = browser.watch_session(&session_id, &target_id);
        let page = Page {
            browser,
            context_id,
            target_id,
            session_id,
            events,
            closed: false,
            closing_in_background: false,
        };
        // Network keeps no bodies for us (nothing reads them) and sends no
        // POST data in its events, so a page cannot grow the browser's
        // buffers or our messages with them.
        let network = json!({ "maxTotalBufferSize": 0, "maxResourceBufferSize": 0,
                              "maxPostDataSize": 0 });
        for (domain, params) in [
            ("Page.enable", json!({})),
            ("Runtime.enable", json!({})),
            ("Network.enable", network),
            ("Log.enable", json!({})),
        ] {
            // On an error the page drops and closes in the background.
            page.call(domain, params, deadline).await?;
        }
        let metrics = json!({ "width": width, "height": height,
                              "deviceScaleFactor": 1, "mobile": false });
        page.call("Emulation.setDeviceMetricsOverride", metrics, deadline)
            .await?;
        Ok(page)
    }

    /// Sends a command to this page.
    pub(crate) async fn call(
        &self,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, CdpError> {
        self.browser
            .call(Some(&self.session_id), method, params, deadline)
            .await
    }

    /// Closes the page and its context. A browser that does not do so in
    /// time is killed: the next run starts a new one.
    pub(crate) async fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.browser.forget_session(&self.session_id);
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        let closed = self
            .browser
            .call(
                None,
                "Target.closeTarget",
                json!({ "targetId": self.target_id }),
                deadline,
            )
            .await;
        let disposed = self
            .browser
            .call(
                None,
                "Target.disposeBrowserContext",
                json!({ "browserContextId": self.context_id }),
                deadline,
            )
            .await;
        if matches!(closed, Err(CdpError::Timeout | CdpError::Closed))
            || matches!(disposed, Err(CdpError::Timeout | CdpError::Closed))
        {
            tracing::warn!("the browser did not close a page in time; stopping it");
            self.browser.kill();
        }
    }
}

impl Drop for Page {
    /// A finished run, or one dropped by the check's outer timeout, closes
    /// its page in the background with the close's own timeout.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if self.closing_in_background {
            self.closed = true;
            self.browser.kill();
            return;
        }
        let mut rest = Page {
            browser: Arc::clone(&self.browser),
            context_id: std::mem::take(&mut self.context_id),
            target_id: std::mem::take(&mut self.target_id),
            session_id: std::mem::take(&mut self.session_id),
            events: Arc::clone(&self.events),
            closed: false,
            closing_in_background: true,
        };
        self.closed = true;
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { rest.close().await });
            }
            Err(_) => {
                rest.closed = true;
                rest.browser.kill();
            }
        }
    }
}

async fn close_target(browser: &Browser, target_id: &str) {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    if browser
        .call(
            None,
            "Target.closeTarget",
            json!({ "targetId": target_id }),
            deadline,
        )
        .await
        .is_err()
    {
        browser.kill();
    }
}

async fn dispose_context(browser: &Browser, context_id: &str) {
    let deadline = Instant::now() + CLOSE_TIMEOUT;
    if browser
        .call(
            None,
            "Target.disposeBrowserContext",
            json!({ "browserContextId": context_id }),
            deadline,
        )
        .await
        .is_err()
    {
        browser.kill();
    }
}

fn string_field(value: &Value, field: &str) -> Result<String, CdpError> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CdpError::Protocol(format!("the answer has no {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reloaded_limit_resizes_the_turns_runs_hold() {
        let pool = BrowserPool::default();
        let far = Instant::now() + Duration::from_secs(30);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(pool.turn(4, far).await.expect("a turn"));
        }
        // Lowered to 2 with 3 running: no new turn until two of them end.
        let soon = Instant::now() + Duration::from_millis(200);
        assert!(pool.turn(2, soon).await.is_none());
        held.pop();
        let soon = Instant::now() + Duration::from_millis(200);
        assert!(pool.turn(2, soon).await.is_none());
        held.pop();
        held.push(pool.turn(2, far).await.expect("a turn under the new limit"));
        let soon = Instant::now() + Duration::from_millis(200);
        assert!(pool.turn(2, soon).await.is_none());
        // Raised to 3: one more at once.
        held.push(
            pool.turn(3, far)
                .await
                .expect("a turn under the raised limit"),
        );
        let soon = Instant::now() + Duration::from_millis(200);
        assert!(pool.turn(3, soon).await.is_none());
    }
}
