//! One active projector per partition: hold a lease while running, step down when it is lost.
//!
//! Standbys retry the lease every third of its TTL, so a dead leader is replaced within about
//! one TTL. The lease's fencing token goes into the `meta` of every event the leader appends,
//! so an audit can tell which leader wrote what.

use aurora_coord::{Lease, Leases};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The leases one process holds, shared by its partitions' leadership loops: a process that
/// already leads partitions waits a little before taking a free one (longer the more it leads),
/// so free partitions go to the projector processes that lead fewest, and the work spreads.
#[derive(Default)]
pub struct Holdings {
    held: std::sync::atomic::AtomicUsize,
    /// One acquisition at a time per process.
    gate: tokio::sync::Mutex<()>,
}

impl Holdings {
    /// How many leases this process holds now.
    pub fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Runs `run` whenever this holder leads `name`, until `shutdown`. `run` gets the lease and a
/// token that is cancelled when leadership is lost (or on shutdown); it should return then.
///
/// When `run` fails (its database or broker went away), the holder logs the error, steps down
/// so that a healthy standby can lead, and competes for the lease again after a backoff: a
/// projector outlives the outages of what it depends on instead of exiting.
pub async fn lead<F, Fut, E>(
    leases: Arc<dyn Leases>,
    name: &str,
    holder: &str,
    ttl: Duration,
    shutdown: CancellationToken,
    holdings: Arc<Holdings>,
    mut run: F,
) where
    F: FnMut(Lease, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let period = ttl / 3;
    let mut backoff = aurora_schemas::backoff::Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    while !shutdown.is_cancelled() {
        let acquired = {
            let _one_at_a_time = holdings.gate.lock().await;
            let held = holdings.held();
            if held > 0 {
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(period * held as u32) => {} }
            }
            let acquired = leases.acquire(name, holder, ttl).await;
            if matches!(acquired, Ok(Some(_))) {
                holdings.held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            acquired
        };
        let lease = match acquired {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(period) => continue }
            }
            Err(e) => {
                warn!(error = %e, lease = name, "cannot reach the lease store; retrying");
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(period) => continue }
            }
        };
        info!(lease = name, holder, token = lease.token, "leading");
        let leading = shutdown.child_token();
        let keeper = {
            let (leases, lease, leading) = (leases.clone(), lease.clone(), leading.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! { _ = leading.cancelled() => return, _ = tokio::time::sleep(period) => {} }
                    match leases.renew(&lease, ttl).await {
                        Ok(true) => {}
                        Ok(false) => {
                            warn!(lease = %lease.name, token = lease.token, "leadership lost; stepping down");
                            leading.cancel();
                            return;
                        }
                        Err(e) => warn!(error = %e, "could not renew the lease; will retry before it expires"),
                    }
                }
            })
        };
        let result = run(lease.clone(), leading.clone()).await;
        leading.cancel();
        let _ = keeper.await;
        let _ = leases.release(&lease).await;
        holdings.held.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        match result {
            Ok(()) => backoff.reset(),
            Err(e) => {
                let retry_in = backoff.next_delay();
                error!(error = %e, lease = name, ?retry_in, "the leader failed; stepped down, will try again");
                tokio::select! { _ = shutdown.cancelled() => break, _ = tokio::time::sleep(retry_in) => {} }
            }
        }
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_coord::LocalCoord;
    use std::sync::Mutex;

    #[tokio::test(start_paused = true)]
    async fn one_leader_at_a_time_and_a_standby_takes_over() {
        let coord: Arc<dyn Leases> = Arc::new(LocalCoord::new());
        let log: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
        let ttl = Duration::from_secs(3);
        let spawn = |holder: &'static str, stop: CancellationToken| {
            let (coord, log) = (coord.clone(), log.clone());
            tokio::spawn(async move {
                lead::<_, _, String>(coord, "projector/0", holder, ttl, stop, Arc::default(), |lease, leading| {
                    let log = log.clone();
                    async move {
                        log.lock().expect("log").push((lease.holder.clone(), lease.token));
                        leading.cancelled().await;
                        Ok(())
                    }
                })
                .await
            })
        };
        let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
        let a = spawn("a", stop_a.clone());
        tokio::time::sleep(Duration::from_millis(10)).await;
        let b = spawn("b", stop_b.clone());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(log.lock().expect("log").clone(), vec![("a".to_string(), 1)], "b stands by while a leads");
        stop_a.cancel();
        a.await.expect("join");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let entries = log.lock().expect("log").clone();
        assert_eq!(entries.last(), Some(&("b".to_string(), 2)), "b took over with a greater token: {entries:?}");
        stop_b.cancel();
        b.await.expect("join");
    }

    /// Two processes, two partitions: each process ends up leading one, whichever started first;
    /// when one process stops, the other takes its partition over.
    #[tokio::test(start_paused = true)]
    async fn partitions_spread_over_processes_and_move_when_one_stops() {
        let coord: Arc<dyn Leases> = Arc::new(LocalCoord::new());
        let ttl = Duration::from_secs(3);
        let start = |holder: &'static str| {
            let (holdings, stop) = (Arc::new(Holdings::default()), CancellationToken::new());
            for p in 0..2 {
                let (coord, holdings, stop) = (coord.clone(), holdings.clone(), stop.clone());
                tokio::spawn(async move {
                    let name = format!("projector/{p}");
                    lead::<_, _, String>(coord, &name, holder, ttl, stop, holdings, |_, leading| async move {
                        leading.cancelled().await;
                        Ok(())
                    })
                    .await
                });
            }
            (holdings, stop)
        };
        let (a, stop_a) = start("a");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let (b, _stop_b) = start("b");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!((a.held(), b.held()), (1, 1), "one partition each");
        stop_a.cancel();
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!((a.held(), b.held()), (0, 2), "b took a's partition over");
    }

    /// A leader whose work fails (its database went away) steps down and leads again later,
    /// with a new fencing token, instead of ending the process.
    #[tokio::test(start_paused = true)]
    async fn a_failed_leader_steps_down_and_leads_again() {
        let coord: Arc<dyn Leases> = Arc::new(LocalCoord::new());
        let runs: Arc<Mutex<Vec<u64>>> = Arc::default();
        let stop = CancellationToken::new();
        let task = {
            let (coord, runs, stop) = (coord.clone(), runs.clone(), stop.clone());
            tokio::spawn(async move {
                lead(coord, "projector/0", "a", Duration::from_secs(3), stop, Arc::default(), |lease, leading| {
                    let runs = runs.clone();
                    async move {
                        let n = {
                            let mut runs = runs.lock().expect("runs");
                            runs.push(lease.token);
                            runs.len()
                        };
                        if n < 3 {
                            return Err(format!("database unavailable (run {n})"));
                        }
                        leading.cancelled().await;
                        Ok(())
                    }
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(runs.lock().expect("runs").clone(), vec![1, 2, 3], "two failures, then a third run that holds");
        stop.cancel();
        task.await.expect("the leader loop ends on shutdown");
    }
}
