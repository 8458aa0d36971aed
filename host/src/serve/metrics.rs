//! `/metrics`, in Prometheus' text format.

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RowLabels {
    tenant: String,
    plugin: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    tenant: String,
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    tenant: String,
    plugin: String,
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    tenant: String,
    status: String,
}

pub struct Metrics {
    registry: Registry,
    rows: Family<RowLabels, Counter>,
    row_seconds: Family<PluginLabels, Histogram>,
    batch_rows: Family<PluginLabels, Histogram>,
    batches: Family<PluginLabels, Counter>,
    limits: Family<LimitLabels, Counter>,
    queued: Family<TenantLabels, Gauge<i64, AtomicI64>>,
    refused: Family<RefusalLabels, Counter>,
    in_use: Family<TenantLabels, Gauge<i64, AtomicI64>>,
    slots: Family<TenantLabels, Gauge<i64, AtomicI64>>,
    jobs: Family<TenantLabels, Gauge<i64, AtomicI64>>,
    credits_spent: Family<TenantLabels, Gauge<f64, AtomicU64>>,
    credits_left: Family<TenantLabels, Gauge<f64, AtomicU64>>,
}

/// A tenant's state at a scrape.
pub struct TenantNow {
    /// Plugin calls running (row batches, runs, audits) and how many may.
    pub in_use: i64,
    pub slots: i64,
    pub jobs: i64,
    /// Credits spent in its period, and what its credits per period leave.
    pub credits: Option<(f64, Option<f64>)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kiln");
        let rows = Family::<RowLabels, Counter>::default();
        let row_seconds = Family::<PluginLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
        });
        let batch_rows = Family::<PluginLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1.0, 2.0, 12))
        });
        let batches = Family::<PluginLabels, Counter>::default();
        let limits = Family::<LimitLabels, Counter>::default();
        let queued = Family::<TenantLabels, Gauge<i64, AtomicI64>>::default();
        let refused = Family::<RefusalLabels, Counter>::default();
        let in_use = Family::<TenantLabels, Gauge<i64, AtomicI64>>::default();
        let slots = Family::<TenantLabels, Gauge<i64, AtomicI64>>::default();
        let jobs = Family::<TenantLabels, Gauge<i64, AtomicI64>>::default();
        let credits_spent = Family::<TenantLabels, Gauge<f64, AtomicU64>>::default();
        let credits_left = Family::<TenantLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "instances_in_use",
            "Plugin calls running (row batches, runs, audits), by tenant",
            in_use.clone(),
        );
        registry.register(
            "instance_slots",
            "Plugin calls a tenant may run at once (max_concurrent)",
            slots.clone(),
        );
        registry.register("jobs_running", "Runs and audits going", jobs.clone());
        registry.register(
            "credits_spent_period",
            "Credits spent through kiln in the tenant's credit period (committed and held)",
            credits_spent.clone(),
        );
        registry.register(
            "credits_remaining",
            "Credits left of the tenant's credits_per_period",
            credits_left.clone(),
        );
        registry.register(
            "row_calls",
            "Row calls answered, by tenant, plugin and outcome (set, unchanged, row_error, failed)",
            rows.clone(),
        );
        registry.register(
            "row_call_seconds",
            "Time from a row's batch starting to its answer",
            row_seconds.clone(),
        );
        registry.register("batch_rows", "Rows per coalesced batch", batch_rows.clone());
        registry.register("batches", "Coalesced batches run", batches.clone());
        registry.register(
            "limits_hit",
            "Batches a plugin limit (deadline, memory, fuel…) or trap ended",
            limits.clone(),
        );
        registry.register(
            "row_calls_queued",
            "Row calls waiting or running, by tenant",
            queued.clone(),
        );
        registry.register(
            "refused",
            "Requests refused for capacity (429 tenant quota, 503 server full)",
            refused.clone(),
        );
        Self {
            registry,
            rows,
            row_seconds,
            batch_rows,
            batches,
            limits,
            queued,
            refused,
            in_use,
            slots,
            jobs,
            credits_spent,
            credits_left,
        }
    }

    /// Sets a tenant's gauges just before a scrape renders them.
    pub fn tenant_now(&self, tenant: &str, now: &TenantNow) {
        let labels = TenantLabels {
            tenant: tenant.to_string(),
        };
        self.in_use.get_or_create(&labels).set(now.in_use);
        self.slots.get_or_create(&labels).set(now.slots);
        self.jobs.get_or_create(&labels).set(now.jobs);
        if let Some((spent, left)) = now.credits {
            self.credits_spent.get_or_create(&labels).set(spent);
            if let Some(left) = left {
                self.credits_left.get_or_create(&labels).set(left);
            }
        }
    }

    fn plugin(tenant: &str, plugin: &str) -> PluginLabels {
        PluginLabels {
            tenant: tenant.to_string(),
            plugin: plugin.to_string(),
        }
    }

    pub fn row_done(&self, tenant: &str, plugin: &str, outcome: &str, took: Duration) {
        self.rows
            .get_or_create(&RowLabels {
                tenant: tenant.to_string(),
                plugin: plugin.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.row_seconds
            .get_or_create(&Self::plugin(tenant, plugin))
            .observe(took.as_secs_f64());
    }

    pub fn batch_rows(&self, tenant: &str, plugin: &str, rows: usize) {
        let labels = Self::plugin(tenant, plugin);
        self.batches.get_or_create(&labels).inc();
        self.batch_rows.get_or_create(&labels).observe(rows as f64);
    }

    pub fn limit_hit(&self, tenant: &str, plugin: &str, limit: &str) {
        self.limits
            .get_or_create(&LimitLabels {
                tenant: tenant.to_string(),
                plugin: plugin.to_string(),
                limit: limit.to_string(),
            })
            .inc();
    }

    pub fn queued(&self, tenant: &str, delta: i64) {
        self.queued
            .get_or_create(&TenantLabels {
                tenant: tenant.to_string(),
            })
            .inc_by(delta);
    }

    pub fn refused(&self, tenant: &str, status: u16) {
        self.refused
            .get_or_create(&RefusalLabels {
                tenant: tenant.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
