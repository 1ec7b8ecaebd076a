//! `suho scope`, `suho history`, `suho evidence` and `suho verify-evidence` (being written).
