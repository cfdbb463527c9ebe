//! What a task will cost, before paying for it: a price table as data.
//!
//! The service bills the seconds of successfully generated video (`usage.video_duration`);
//! inputs and failed tasks are free (spec §11). A [`PriceTable`] maps (model, mode, region) to a
//! price per second with its currency, source and date, so every estimate can say which price
//! it used. The built-in table holds the only published figures found (spec §11 and §18);
//! users replace it with their own JSON ([`PriceTable::from_json`]) when prices change or for
//! the combinations nobody published. Where no price is known, [`Estimate::cost`] is `None`.
//!
//! ```
//! use wan_animate_core::pricing::PriceTable;
//! let table = PriceTable::builtin();
//! let e = table.estimate("wan2.2-animate-mix", "wan-pro", "cn-beijing", 4.2);
//! assert_eq!(e.billable_seconds, 5);
//! assert_eq!(e.cost, Some(4.5));
//! assert_eq!(e.price.unwrap().currency, "CNY");
//! // No published price for `move`: the estimate says so instead of guessing.
//! assert!(table.estimate("wan2.2-animate-move", "wan-std", "cn-beijing", 5.0).cost.is_none());
//! ```

use serde::{Deserialize, Serialize};

use crate::Error;

/// One price: a model in a mode and a region, per second of output video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Price {
    /// Full model name, e.g. `wan2.2-animate-mix`.
    pub model: String,
    /// The service's mode name: `wan-std` or `wan-pro`.
    pub mode: String,
    /// Region id: `cn-beijing`, `ap-southeast-1`, or `*` for any region.
    pub region: String,
    /// Price of one second of output video.
    pub price_per_second: f64,
    /// Currency code, e.g. `CNY`.
    pub currency: String,
    /// Where the figure comes from.
    pub source: String,
    /// When the figure was published or read (free text, ISO 8601 preferred).
    pub date: String,
}

impl Price {
    /// A price; `source` and `date` say where it comes from.
    pub fn new(
        model: impl Into<String>,
        mode: impl Into<String>,
        region: impl Into<String>,
        price_per_second: f64,
        currency: impl Into<String>,
    ) -> Self {
        Self {
            model: model.into(),
            mode: mode.into(),
            region: region.into(),
            price_per_second,
            currency: currency.into(),
            source: String::new(),
            date: String::new(),
        }
    }

    /// Sets where the figure comes from and its date.
    pub fn with_source(mut self, source: impl Into<String>, date: impl Into<String>) -> Self {
        self.source = source.into();
        self.date = date.into();
        self
    }
}

/// Prices by model, mode and region.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    prices: Vec<Price>,
}

/// Where the built-in figures come from (spec §11, confirmed as the only published ones in §18).
const BUILTIN_SOURCE: &str = "Model Studio wan2.2-animate-mix page, first published version (spec/api.md §11, §18); the current page links to model-pricing and may differ";

impl PriceTable {
    /// The built-in table: `wan2.2-animate-mix` in China (Beijing), 0.6 CNY/s (`wan-std`) and
    /// 0.9 CNY/s (`wan-pro`), from September 2025. No price for `wan2.2-animate-move` or for
    /// Singapore was published.
    pub fn builtin() -> Self {
        let mix = "wan2.2-animate-mix";
        Self {
            prices: vec![
                Price::new(mix, "wan-std", "cn-beijing", 0.6, "CNY")
                    .with_source(BUILTIN_SOURCE, "2025-09"),
                Price::new(mix, "wan-pro", "cn-beijing", 0.9, "CNY")
                    .with_source(BUILTIN_SOURCE, "2025-09"),
            ],
        }
    }

    /// A table of the given prices.
    pub fn new(prices: Vec<Price>) -> Self {
        Self { prices }
    }

    /// A table from JSON: an array of prices (or an object with a `prices` array), each
    /// `{"model", "mode", "region", "price_per_second", "currency", "source", "date"}`.
    ///
    /// ```
    /// use wan_animate_core::pricing::PriceTable;
    /// let t = PriceTable::from_json(r#"[{"model":"wan2.2-animate-move","mode":"wan-std",
    ///   "region":"*","price_per_second":0.4,"currency":"CNY","source":"my contract","date":"2026-11"}]"#).unwrap();
    /// assert_eq!(t.estimate("wan2.2-animate-move", "wan-std", "ap-southeast-1", 2.0).cost, Some(0.8));
    /// ```
    pub fn from_json(text: &str) -> Result<Self, Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Doc {
            List(Vec<Price>),
            Object { prices: Vec<Price> },
        }
        let doc: Doc = serde_json::from_str(text).map_err(|e| {
            Error::invalid_input(format!(
                "the price table is not valid JSON of the expected shape ({e}): give an array of {{\"model\", \"mode\", \"region\", \"price_per_second\", \"currency\", \"source\", \"date\"}}"
            ))
        })?;
        let prices = match doc {
            Doc::List(p) | Doc::Object { prices: p } => p,
        };
        if let Some(bad) = prices
            .iter()
            .find(|p| !p.price_per_second.is_finite() || p.price_per_second < 0.0)
        {
            return Err(Error::invalid_input(format!(
                "the price table has an invalid price_per_second for {} {} {}: give a number of at least 0",
                bad.model, bad.mode, bad.region
            )));
        }
        Ok(Self { prices })
    }

    /// Every price in the table.
    pub fn prices(&self) -> &[Price] {
        &self.prices
    }

    /// The price of `model` in `mode` and `region`: an exact region first, then `*`.
    pub fn lookup(&self, model: &str, mode: &str, region: &str) -> Option<&Price> {
        let matches = |p: &&Price, r: &str| p.model == model && p.mode == mode && p.region == r;
        self.prices
            .iter()
            .find(|p| matches(p, region))
            .or_else(|| self.prices.iter().find(|p| matches(p, "*")))
    }

    /// Estimates a task that produces `video_seconds` of video: the billable seconds (whole
    /// seconds, rounded up) and, if a price is known, the cost.
    pub fn estimate(&self, model: &str, mode: &str, region: &str, video_seconds: f64) -> Estimate {
        let billable_seconds = if video_seconds.is_finite() && video_seconds > 0.0 {
            video_seconds.ceil().min(u32::MAX as f64) as u64
        } else {
            0
        };
        let price = self.lookup(model, mode, region).cloned();
        let cost = price.as_ref().map(|p| {
            // Rounded to a millionth, so 3 s at 0.6 is 1.8, not 1.7999999999999998.
            ((billable_seconds as f64 * p.price_per_second) * 1e6).round() / 1e6
        });
        Estimate {
            billable_seconds,
            price,
            cost,
        }
    }
}

/// A cost estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Estimate {
    /// Seconds the service would bill.
    pub billable_seconds: u64,
    /// The price used, if one is known.
    pub price: Option<Price>,
    /// `billable_seconds × price_per_second`, if a price is known.
    pub cost: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_prices_are_the_published_mix_figures_and_nothing_else() {
        let t = PriceTable::builtin();
        assert_eq!(
            t.lookup("wan2.2-animate-mix", "wan-std", "cn-beijing")
                .map(|p| p.price_per_second),
            Some(0.6)
        );
        assert_eq!(
            t.estimate("wan2.2-animate-mix", "wan-std", "cn-beijing", 3.0)
                .cost,
            Some(1.8)
        );
        assert!(
            t.lookup("wan2.2-animate-mix", "wan-std", "ap-southeast-1")
                .is_none()
        );
        assert!(
            t.lookup("wan2.2-animate-move", "wan-pro", "cn-beijing")
                .is_none()
        );
    }

    #[test]
    fn a_user_table_replaces_the_builtin_one_and_bad_tables_are_refused() {
        let t = PriceTable::from_json(
            r#"{"prices":[{"model":"m","mode":"wan-std","region":"cn-beijing","price_per_second":1.5,"currency":"USD","source":"s","date":"d"}]}"#,
        )
        .unwrap();
        assert_eq!(
            t.estimate("m", "wan-std", "cn-beijing", 0.2).cost,
            Some(1.5)
        );
        assert!(PriceTable::from_json("{").is_err());
        assert!(PriceTable::from_json(
            r#"[{"model":"m","mode":"x","region":"*","price_per_second":-1,"currency":"USD","source":"s","date":"d"}]"#
        )
        .is_err());
    }

    #[test]
    fn nonsense_durations_bill_nothing() {
        let t = PriceTable::builtin();
        for d in [f64::NAN, -3.0, 0.0, f64::INFINITY] {
            assert_eq!(
                t.estimate("wan2.2-animate-mix", "wan-std", "cn-beijing", d)
                    .billable_seconds,
                0
            );
        }
    }
}
