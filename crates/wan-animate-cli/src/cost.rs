//! Cost estimates for people: which price table, which region, and how an estimate reads.

use std::path::Path;

use serde_json::{Value, json};
use wan_animate_core::pricing::{Estimate, PriceTable};

use crate::args::GlobalArgs;
use crate::failure::Failure;

/// The price table in use and the region it is read for.
#[derive(Debug, Clone)]
pub(crate) struct Costing {
    table: PriceTable,
    /// Region id the prices are looked up for.
    pub(crate) region: String,
    /// Whether the table is the user's (`--prices`).
    user_table: bool,
    /// The simulator bills nothing; estimates then say what the real service would charge.
    sim: bool,
}

impl Costing {
    /// The price table in use (`--prices`, `WAN_ANIMATE_PRICES`, or the built-in one).
    pub(crate) fn table(&self) -> &PriceTable {
        &self.table
    }

    /// From `--prices`/`WAN_ANIMATE_PRICES` (or the built-in table) and the region flags.
    pub(crate) fn from_global(global: &GlobalArgs) -> Result<Self, Failure> {
        let (table, user_table) = match &global.prices {
            Some(path) => (load(path)?, true),
            None => (PriceTable::builtin(), false),
        };
        Ok(Self {
            table,
            region: region_id(global.region.as_deref(), global.base_url.as_deref()),
            user_table,
            sim: global.sim,
        })
    }

    /// `costing`, or the built-in table when none was read.
    pub(crate) fn or_builtin(costing: Option<Self>, global: &GlobalArgs) -> Self {
        costing.unwrap_or_else(|| Self {
            table: PriceTable::builtin(),
            region: region_id(global.region.as_deref(), global.base_url.as_deref()),
            user_table: false,
            sim: global.sim,
        })
    }

    /// Whether the service is the simulator (which bills nothing).
    pub(crate) fn simulated(&self) -> bool {
        self.sim
    }

    /// Estimates a task of `model` in `mode` producing `seconds` of video.
    pub(crate) fn estimate(&self, model: &str, mode: &str, seconds: f64) -> Estimate {
        self.table.estimate(model, mode, &self.region, seconds)
    }

    /// One human line: `5 s billable, estimated 3.00 CNY (0.6 CNY/s, source, date)`.
    pub(crate) fn describe(&self, model: &str, mode: &str, e: &Estimate) -> String {
        let mut s = format!("{} s billable", e.billable_seconds);
        match (&e.price, e.cost) {
            (Some(p), Some(cost)) => {
                s.push_str(&format!(
                    ", estimated {cost:.2} {} ({} {}/s for {model} {mode} in {}; {}{}, {})",
                    p.currency,
                    p.price_per_second,
                    p.currency,
                    self.region,
                    if self.user_table { "your table: " } else { "" },
                    p.source,
                    p.date
                ));
            }
            _ => s.push_str(&format!(
                ", no price known for {model} {mode} in {} (none was published; give one with --prices FILE)",
                self.region
            )),
        }
        if self.sim {
            s.push_str("; the simulator itself bills nothing");
        }
        s
    }

    /// The estimate as JSON (`billable_seconds`, `cost`, `currency`, `price`).
    pub(crate) fn json(&self, e: &Estimate) -> Value {
        json!({
            "billable_seconds": e.billable_seconds,
            "cost": e.cost,
            "currency": e.price.as_ref().map(|p| p.currency.clone()),
            "price": e.price,
            "region": self.region,
            "simulated": self.sim,
        })
    }
}

fn load(path: &Path) -> Result<PriceTable, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::invalid_input(format!(
            "cannot read the price table {}: {e}",
            path.display()
        ))
        .with_hint("give --prices (or WAN_ANIMATE_PRICES) a readable JSON file, or leave it out to use the built-in prices")
    })?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return Err(Failure::invalid_input(format!(
            "the price table {} is not a regular JSON file of at most 1 MiB",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::invalid_input(format!(
            "cannot read the price table {}: {e}",
            path.display()
        ))
    })?;
    PriceTable::from_json(&text).map_err(|e| {
        Failure::from(e).with_hint(format!("fix {} or leave --prices out", path.display()))
    })
}

/// The region id prices are read for: `--region`, else guessed from the base URL, else Beijing.
fn region_id(region: Option<&str>, base_url: Option<&str>) -> String {
    if let Some(r) = region {
        return match r.trim().to_ascii_lowercase().as_str() {
            "beijing" | "cn-beijing" | "cn" => "cn-beijing".into(),
            "singapore" | "ap-southeast-1" | "intl" | "sg" => "ap-southeast-1".into(),
            other => other.to_owned(),
        };
    }
    match base_url {
        Some(b) if b.contains("dashscope-intl") || b.contains("ap-southeast-1") => {
            "ap-southeast-1".into()
        }
        _ => "cn-beijing".into(),
    }
}
