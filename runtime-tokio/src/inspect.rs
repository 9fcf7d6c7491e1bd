//! Reading captured messages for `simple-im parse`.
