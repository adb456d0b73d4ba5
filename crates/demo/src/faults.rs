//! The fault timeline: which fault is active at which moment of the cycle.

use std::time::{Duration, Instant};

/// Length of one round of faults.
pub const CYCLE: Duration = Duration::from_secs(160);

/// A fault the demo shop can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Everything works.
    None,
    /// The product page answers after 1.5 s (Degraded).
    SlowProductPage,
    /// The checkout answers 500 (Down).
    CheckoutError,
    /// HTTPS presents an expired certificate (Down).
    ExpiredCertificate,
    /// The nightly job stops pinging its heartbeat (Down after period + grace).
    MissingHeartbeat,
    /// The payment vendor's status page reports a major outage of the
    /// payments API while the API itself still answers (Degraded with
    /// CHAIN_VENDOR_OUTAGE).
    VendorOutage,
    /// The cart's form-key (CSRF) check rejects every key: adding to the
    /// cart answers 400, the JSON cart API 403 (the cart scenario fails at
    /// its add-to-cart step).
    AddToCartBroken,
    /// Every customer login answers "Invalid login" (the login check
    /// fails).
    LoginBroken,
    /// The shop's order worker (a process of its own) is killed with
    /// SIGKILL as the step begins and stays dead until something starts
    /// it again: the demo's `[[action]]` restart-worker, through the
    /// demo agent (server/worker turns Down, then Up, and nobody is paged).
    WorkerCrash,
}

impl Fault {
    /// Every fault, in the timeline's order.
    pub const ALL: [Fault; 9] = [
        Fault::None,
        Fault::SlowProductPage,
        Fault::CheckoutError,
        Fault::ExpiredCertificate,
        Fault::MissingHeartbeat,
        Fault::VendorOutage,
        Fault::AddToCartBroken,
        Fault::LoginBroken,
        Fault::WorkerCrash,
    ];

    /// Its name on the command line (`keepup demo --fault NAME`, hidden:
    /// one fault all the time, for tests).
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::SlowProductPage => "slow-product-page",
            Fault::CheckoutError => "checkout-error",
            Fault::ExpiredCertificate => "expired-certificate",
            Fault::MissingHeartbeat => "missing-heartbeat",
            Fault::VendorOutage => "vendor-outage",
            Fault::AddToCartBroken => "add-to-cart-broken",
            Fault::LoginBroken => "login-broken",
            Fault::WorkerCrash => "worker-crash",
        }
    }

    /// The fault with this [`name`](Fault::name).
    pub fn named(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What a newcomer should expect to see; `quick_add` says whether the
    /// demo checks the JavaScript quick add in Chromium (`shop/quick-add`),
    /// which the add-to-cart fault fails too. Each is short enough for the
    /// demo screen's FAULT NOW line on 80 columns (keepup cmd/live.rs
    /// every_demo_fault_fits_on_eighty_columns).
    pub fn describe(self, quick_add: bool) -> &'static str {
        match self {
            Fault::None => "none: everything should turn or stay UP",
            Fault::SlowProductPage => "slow product page: shop/product turns DEGRADED",
            Fault::CheckoutError => "checkout answers 500: shop/checkout, shop/cart turn DOWN",
            Fault::ExpiredCertificate => {
                "expired cert: shop/certificate and HTTPS checks turn DOWN"
            }
            Fault::MissingHeartbeat => "nightly job stopped pinging: shop/nightly-job turns DOWN",
            Fault::VendorOutage => "payment vendor outage: shop/payment-vendor turns DEGRADED",
            Fault::AddToCartBroken if quick_add => {
                "add to cart refused: shop/cart, shop/quick-add turn DOWN"
            }
            Fault::AddToCartBroken => {
                "add to cart refused: shop/cart turns DOWN at \"add to cart\""
            }
            Fault::LoginBroken => "login broken: shop/login turns DOWN at \"log in\"",
            Fault::WorkerCrash => "worker killed: server/worker DOWN, restarted by an action",
        }
    }
}

/// The schedule: quiet for 20 s, then each fault for 15–20 s (the cart and
/// login checks look every 10 s, so they see their 20 s faults twice).
/// The worker's crash comes last: its repair takes an agent report, the
/// action's run and another report, which the other faults need not wait
/// for.
const PLAN: &[(u64, Fault)] = &[
    (0, Fault::None),
    (20, Fault::SlowProductPage),
    (35, Fault::CheckoutError),
    (50, Fault::ExpiredCertificate),
    (65, Fault::MissingHeartbeat),
    (80, Fault::VendorOutage),
    (100, Fault::AddToCartBroken),
    (120, Fault::LoginBroken),
    (140, Fault::WorkerCrash),
];

/// Faults as a function of time since the demo started.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    start: Instant,
    /// Whether faults are injected at all (off for benchmarks, which
    /// measure the shop, not the timeline).
    injecting: bool,
    /// The one fault active all the time, for tests of one fault.
    only: Option<Fault>,
}

impl FaultPlan {
    /// A plan starting now.
    pub fn starting_now() -> Self {
        Self {
            start: Instant::now(),
            injecting: true,
            only: None,
        }
    }

    /// A plan with `fault` active all the time (tests of one fault; no
    /// timeline to wait for).
    pub fn only(fault: Fault) -> Self {
        Self {
            start: Instant::now(),
            injecting: true,
            only: Some(fault),
        }
    }

    /// A plan that never injects a fault.
    pub fn without_faults() -> Self {
        Self {
            start: Instant::now(),
            injecting: false,
            only: None,
        }
    }

    /// The fault active now.
    pub fn current(&self) -> Fault {
        if !self.injecting {
            return Fault::None;
        }
        if let Some(f) = self.only {
            return f;
        }
        fault_at(self.start.elapsed())
    }

    /// The fault that follows the current one, and how long until it starts.
    pub fn upcoming(&self) -> (Fault, Duration) {
        if !self.injecting {
            return (Fault::None, Duration::ZERO);
        }
        if let Some(f) = self.only {
            return (f, Duration::ZERO);
        }
        fault_after(self.start.elapsed())
    }

    /// Time since the plan started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The next fault after `elapsed` and the time until it starts (the plan
/// wraps around at the end of the cycle).
pub fn fault_after(elapsed: Duration) -> (Fault, Duration) {
    let cycle = CYCLE.as_millis();
    let into = elapsed.as_millis() % cycle;
    let (start, fault) = PLAN
        .iter()
        .map(|(from, f)| (u128::from(*from) * 1000, *f))
        .find(|(from, _)| *from > into)
        .unwrap_or((cycle, PLAN[0].1));
    let wait = u64::try_from(start - into).unwrap_or(u64::MAX);
    (fault, Duration::from_millis(wait))
}

/// The fault active `elapsed` after the start.
pub fn fault_at(elapsed: Duration) -> Fault {
    let t = elapsed.as_secs() % CYCLE.as_secs();
    PLAN.iter()
        .rev()
        .find(|(from, _)| t >= *from)
        .map(|(_, f)| *f)
        .unwrap_or(Fault::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_appears_within_the_first_cycle_and_repeats() {
        let s = Duration::from_secs;
        assert_eq!(fault_at(s(5)), Fault::None);
        assert_eq!(fault_at(s(25)), Fault::SlowProductPage);
        assert_eq!(fault_at(s(40)), Fault::CheckoutError);
        assert_eq!(fault_at(s(55)), Fault::ExpiredCertificate);
        assert_eq!(fault_at(s(70)), Fault::MissingHeartbeat);
        assert_eq!(fault_at(s(85)), Fault::VendorOutage);
        assert_eq!(fault_at(s(110)), Fault::AddToCartBroken);
        assert_eq!(fault_at(s(130)), Fault::LoginBroken);
        assert_eq!(fault_at(s(150)), Fault::WorkerCrash);
        assert_eq!(fault_at(CYCLE + s(25)), Fault::SlowProductPage);
    }

    #[test]
    fn a_plan_without_faults_never_injects_one() {
        let plan = FaultPlan {
            start: Instant::now() - Duration::from_secs(40),
            injecting: false,
            only: None,
        };
        assert_eq!(plan.current(), Fault::None);
        assert_eq!(plan.upcoming(), (Fault::None, Duration::ZERO));
        let injecting = FaultPlan {
            injecting: true,
            ..plan
        };
        assert_eq!(injecting.current(), Fault::CheckoutError);
    }

    #[test]
    fn the_next_fault_is_the_following_step_and_wraps_at_the_end_of_the_cycle() {
        let s = Duration::from_secs;
        assert_eq!(fault_after(s(5)), (Fault::SlowProductPage, s(15)));
        assert_eq!(fault_after(s(20)), (Fault::CheckoutError, s(15)));
        assert_eq!(fault_after(s(90)), (Fault::AddToCartBroken, s(10)));
        assert_eq!(fault_after(s(125)), (Fault::WorkerCrash, s(15)));
        assert_eq!(fault_after(s(145)), (Fault::None, s(15)));
        assert_eq!(
            fault_after(CYCLE + s(36)),
            (Fault::ExpiredCertificate, s(14))
        );
    }
}
