//! String enums owned by the service. Each keeps values it does not know yet
//! (`Unrecognized`) instead of failing, so a new server value never breaks parsing.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A wire value this version of the crate does not recognise, kept verbatim.
///
/// ```
/// use wan_animate_types::TaskStatus;
/// let status: TaskStatus = "SUSPENDED".into();
/// assert_eq!(status.as_str(), "SUSPENDED");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownValue(String);

impl UnknownValue {
    /// The value as the service sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Declares a server-owned string enum with `as_str`, `Display`, `From<&str>`,
/// `From<String>`, `FromStr` and string (de)serialization that keeps unknown values.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know; kept verbatim.
            Unrecognized(UnknownValue),
        }

        impl $name {
            /// The wire string of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unrecognized(v) => v.as_str(),
                }
            }

            /// Every value this version knows, in documentation order.
            pub const KNOWN: &'static [$name] = &[$( Self::$variant ),+];
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => Self::$variant, )+
                    other => Self::Unrecognized(UnknownValue(other.to_owned())),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match Self::from(s.as_str()) {
                    Self::Unrecognized(_) => Self::Unrecognized(UnknownValue(s)),
                    known => known,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::from)
            }
        }
    };
}

wire_enum! {
    /// The model that runs a task.
    ///
    /// ```
    /// use wan_animate_types::Model;
    /// assert_eq!(Model::AnimateMix.as_str(), "wan2.2-animate-mix");
    /// assert_eq!(Model::from("wan2.2-animate-move"), Model::AnimateMove);
    /// ```
    Model {
        /// `wan2.2-animate-mix`: put the image's person into the video, replacing its performer.
        #[default]
        AnimateMix => "wan2.2-animate-mix",
        /// `wan2.2-animate-move`: make the image's person perform the video's motion.
        AnimateMove => "wan2.2-animate-move",
    }
}

wire_enum! {
    /// The service mode (`parameters.mode`): quality against price and speed.
    ///
    /// ```
    /// use wan_animate_types::Mode;
    /// assert_eq!(Mode::Pro.to_string(), "wan-pro");
    /// ```
    Mode {
        /// `wan-std`: faster and cheaper (15 fps output).
        #[default]
        Standard => "wan-std",
        /// `wan-pro`: smoother, higher quality, slower and pricier (25 fps output).
        Pro => "wan-pro",
    }
}

wire_enum! {
    /// The state of an asynchronous task.
    ///
    /// ```
    /// use wan_animate_types::TaskStatus;
    /// assert!(TaskStatus::Canceled.is_terminal());
    /// assert!(!TaskStatus::from("SUSPENDED").is_terminal());
    /// ```
    TaskStatus {
        /// Queued.
        #[default]
        Pending => "PENDING",
        /// Processing.
        Running => "RUNNING",
        /// Finished with a result.
        Succeeded => "SUCCEEDED",
        /// Finished with an error (`output.code`, `output.message`).
        Failed => "FAILED",
        /// Canceled while pending.
        Canceled => "CANCELED",
        /// The documented `UNKNOWN` status: the task does not exist or is older than 24 hours.
        Unknown => "UNKNOWN",
    }
}

impl TaskStatus {
    /// Whether the task will not change any more. Unrecognized values are not terminal:
    /// a new intermediate state must not end a wait early.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Canceled | Self::Unknown
        )
    }
}

wire_enum! {
    /// `usage.video_ratio`: despite its name, the billed service mode.
    ///
    /// ```
    /// use wan_animate_types::VideoRatio;
    /// assert_eq!(VideoRatio::from("standard"), VideoRatio::Standard);
    /// ```
    VideoRatio {
        /// Billed as `wan-std`.
        #[default]
        Standard => "standard",
        /// Billed as `wan-pro`.
        Pro => "pro",
    }
}

impl Mode {
    /// The `usage.video_ratio` the service reports for tasks run in this mode.
    pub fn video_ratio(&self) -> Option<VideoRatio> {
        match self {
            Self::Standard => Some(VideoRatio::Standard),
            Self::Pro => Some(VideoRatio::Pro),
            Self::Unrecognized(_) => None,
        }
    }
}
