//! The fee rule, stated once: the platform takes
//! `floor(gross × platform_fee_bps / 10 000)`; the processor's fee (when the
//! provider reports one) comes out of the creator's share; the creator gets
//! the rest. A refund or dispute of part of a payment reverses exactly the
//! difference between the payment's split and the split of what remains, so
//! reversals of one payment add up to the whole payment and never more.

/// Basis points in one whole.
pub const BPS: i64 = 10_000;

/// How one amount divides between the platform, the processor and the creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Split {
    pub gross: i64,
    pub platform_fee: i64,
    pub processor_fee: i64,
    pub creator: i64,
}

/// The platform's fee on `gross` minor units.
pub fn platform_fee(gross: i64, bps: u32) -> i64 {
    // i128: no overflow for any i64 amount; floor for non-negative amounts.
    ((gross as i128 * bps as i128).div_euclid(BPS as i128)) as i64
}

/// The split of a payment of `gross` with a known `processor_fee`.
pub fn split(gross: i64, bps: u32, processor_fee: i64) -> Split {
    let platform_fee = platform_fee(gross, bps);
    Split {
        gross,
        platform_fee,
        processor_fee,
        creator: gross - platform_fee - processor_fee,
    }
}

/// What reversing `reversed` of a payment of `gross` takes back in total
/// (negative amounts): the payment's platform fee minus the platform fee on
/// what remains. The processor keeps its fee, so the creator bears it.
pub fn reversal(gross: i64, bps: u32, reversed: i64) -> Split {
    let reversed = reversed.clamp(0, gross.max(0));
    let fee_back = platform_fee(gross, bps) - platform_fee(gross - reversed, bps);
    Split {
        gross: -reversed,
        platform_fee: -fee_back,
        processor_fee: 0,
        creator: -(reversed - fee_back),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_percent_by_default_rounds_down_for_the_platform() {
        assert_eq!(split(1000, 500, 0).platform_fee, 50);
        assert_eq!(split(1000, 500, 0).creator, 950);
        assert_eq!(split(999, 500, 0).platform_fee, 49);
        assert_eq!(split(19, 500, 0).platform_fee, 0);
        assert_eq!(split(500, 500, 45).creator, 430);
        assert_eq!(split(i64::MAX, 10_000, 0).platform_fee, i64::MAX);
    }

    #[test]
    fn partial_reversals_add_up_to_the_whole() {
        let g = 999;
        let a = reversal(g, 500, 333);
        let b = reversal(g, 500, 999);
        // Second refund takes the difference; together they are the payment.
        assert_eq!(b.gross, -999);
        assert_eq!(b.platform_fee, -split(g, 500, 0).platform_fee);
        assert!(a.platform_fee >= b.platform_fee);
        assert_eq!(reversal(g, 500, 5000), b, "never more than the payment");
    }
}
