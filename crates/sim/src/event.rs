//! The compact in-memory form of one access record before it is written as JSON, and the
//! vocabularies (actions, field categories, resources, producers) it indexes into.

use crate::time::TimeStyle;

/// The contract's `action` vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Action {
    Read,
    Search,
    Export,
    Download,
    Print,
    Create,
    Update,
    Delete,
    Login,
    Logout,
    LoginFailed,
}

impl Action {
    /// Every action, in `index` order.
    pub(crate) const ALL: [Action; 11] = [
        Action::Read,
        Action::Search,
        Action::Export,
        Action::Download,
        Action::Print,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Login,
        Action::Logout,
        Action::LoginFailed,
    ];

    /// The contract spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Search => "search",
            Action::Export => "export",
            Action::Download => "download",
            Action::Print => "print",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Login => "login",
            Action::Logout => "logout",
            Action::LoginFailed => "login_failed",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Field categories as bits of a `u16`, in the contract's vocabulary.
pub(crate) mod field {
    pub(crate) const NAME: u16 = 1 << 0;
    pub(crate) const EMAIL: u16 = 1 << 1;
    pub(crate) const PHONE: u16 = 1 << 2;
    pub(crate) const ADDRESS: u16 = 1 << 3;
    pub(crate) const ORDER_HISTORY: u16 = 1 << 4;
    pub(crate) const PAYMENT: u16 = 1 << 5;
    pub(crate) const ENTRANCE_CODE: u16 = 1 << 7;
    pub(crate) const DELIVERY_CONTACTS: u16 = 1 << 8;

    /// Names of the bits, lowest first.
    pub(crate) const NAMES: [&str; 9] = [
        "name",
        "email",
        "phone",
        "address",
        "order_history",
        "payment",
        "birth_date",
        "entrance_code",
        "delivery_contacts",
    ];
}

/// Resource strings, indexed by the constants in [`res`].
pub(crate) const RESOURCES: [&str; 37] = [
    // Customer app, through the API gateway.
    "POST /v1/auth/login",
    "POST /v1/auth/logout",
    "GET /v1/me/profile",
    "GET /v1/me/orders",
    "GET /v1/me/orders/{orderId}",
    "GET /v1/me/addresses",
    "PUT /v1/me/addresses/{addressId}",
    "DELETE /v1/me/addresses/{addressId}",
    "GET /v1/me/payment-methods",
    // Back-office tools used by staff.
    "GET /v1/customers/search",
    "GET /v1/customers/{id}/profile",
    "GET /v1/customers/{id}/orders",
    "GET /v1/customers/{id}/addresses",
    "PATCH /v1/customers/{id}/address",
    "POST /v1/customers/{id}/notes",
    "GET /v1/routes/{routeId}/stops",
    "POST /v1/routes/{routeId}/manifest/print",
    "GET /v1/deliveries/{deliveryId}/address",
    "report:campaign-performance-weekly",
    "GET /v1/segments/{segmentId}/preview",
    "POST /v1/exports/customers",
    "GET /v1/exports/{exportId}/file",
    // Identity provider.
    "POST /idp/v1/login",
    "POST /idp/v1/logout",
    // Production database proxy.
    "prod-db:customers",
    "prod-db:orders",
    // Service mesh (internal APIs).
    "GET /internal/v1/customers/{id}/profile",
    "GET /internal/v1/customers/{id}/orders",
    "GET /internal/v1/customers/{id}/delivery-address",
    "GET /internal/v1/customers/{id}/contact",
    "GET /internal/v1/customers/{id}/payment-methods",
    "GET /internal/v1/customers/search",
    "GET /internal/v1/customers/{id}/risk-profile",
    "POST /internal/v1/notify/campaign-audience",
    "GET /internal/v1/returns/{returnId}",
    "GET /internal/v1/reviews/{reviewId}/author",
    "GET /internal/v1/customers/{id}/segments",
];

/// Indices into [`RESOURCES`].
pub(crate) mod res {
    pub(crate) const ME_LOGIN: u16 = 0;
    pub(crate) const ME_LOGOUT: u16 = 1;
    pub(crate) const ME_PROFILE: u16 = 2;
    pub(crate) const ME_ORDERS: u16 = 3;
    pub(crate) const ME_ORDER: u16 = 4;
    pub(crate) const ME_ADDRESSES: u16 = 5;
    pub(crate) const ME_ADDRESS_UPDATE: u16 = 6;
    pub(crate) const ME_ADDRESS_DELETE: u16 = 7;
    pub(crate) const ME_PAYMENT: u16 = 8;
    pub(crate) const CUST_SEARCH: u16 = 9;
    pub(crate) const CUST_PROFILE: u16 = 10;
    pub(crate) const CUST_ORDERS: u16 = 11;
    pub(crate) const CUST_ADDRESSES: u16 = 12;
    pub(crate) const CUST_ADDRESS_UPDATE: u16 = 13;
    pub(crate) const CUST_NOTE: u16 = 14;
    pub(crate) const ROUTE_STOPS: u16 = 15;
    pub(crate) const ROUTE_PRINT: u16 = 16;
    pub(crate) const DELIVERY_ADDRESS: u16 = 17;
    pub(crate) const REPORT_CAMPAIGN: u16 = 18;
    pub(crate) const SEGMENT_PREVIEW: u16 = 19;
    pub(crate) const EXPORT_CUSTOMERS: u16 = 20;
    pub(crate) const EXPORT_DOWNLOAD: u16 = 21;
    pub(crate) const IDP_LOGIN: u16 = 22;
    pub(crate) const IDP_LOGOUT: u16 = 23;
    pub(crate) const PROD_CUSTOMERS: u16 = 24;
    pub(crate) const PROD_ORDERS: u16 = 25;
    pub(crate) const SVC_PROFILE: u16 = 26;
    pub(crate) const SVC_ORDERS: u16 = 27;
    pub(crate) const SVC_DELIVERY_ADDRESS: u16 = 28;
    pub(crate) const SVC_CONTACT: u16 = 29;
    pub(crate) const SVC_PAYMENT: u16 = 30;
    pub(crate) const SVC_SEARCH: u16 = 31;
    pub(crate) const SVC_RISK: u16 = 32;
    pub(crate) const SVC_AUDIENCE: u16 = 33;
    pub(crate) const SVC_RETURN: u16 = 34;
    pub(crate) const SVC_REVIEW_AUTHOR: u16 = 35;
    pub(crate) const SVC_SEGMENTS: u16 = 36;
}

/// User agents the customer app and web site send (index 0 means none).
pub(crate) const USER_AGENTS: [&str; 6] = [
    "",
    "CoupangApp/8.3.1 (iPhone; iOS 18.1)",
    "CoupangApp/8.3.0 (Android 15; SM-S928N)",
    "CoupangApp/8.2.7 (Android 14; SM-A546N)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
];

/// The system that wrote a record; decides its time format and whether it carries an `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Producer {
    /// Customer-facing API gateway: epoch-millisecond times, `gw-` ids.
    Gateway,
    /// Back-office tools: Seoul times with milliseconds, `bo-YYYYMMDD-NNNNNN` ids.
    Backoffice,
    /// Service mesh: UTC times with milliseconds, no ids.
    Mesh,
    /// Identity provider: Seoul times in whole seconds, `idp-` ids.
    Idp,
    /// Production database proxy: UTC times in whole seconds, `q-` query ids.
    DbProxy,
}

impl Producer {
    /// The RFC 3339 style, or `None` for epoch milliseconds.
    pub(crate) fn time_style(self) -> Option<TimeStyle> {
        match self {
            Producer::Gateway => None,
            Producer::Backoffice => Some(TimeStyle::KstMillis),
            Producer::Mesh => Some(TimeStyle::UtcMillis),
            Producer::Idp => Some(TimeStyle::KstSeconds),
            Producer::DbProxy => Some(TimeStyle::UtcSeconds),
        }
    }
}

/// Who acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ActorRef {
    /// A customer acting on their own data (index into the customer population).
    Customer(u32),
    /// A registered principal (index into `World::principals`).
    Principal(u32),
}

/// The credential presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CredRef {
    None,
    /// A customer app session (`sess-…`), numbered.
    Session(u64),
    /// A token (`tok-…`), numbered; registered or forged depending on who minted it.
    Token(u64),
    /// A service account's API key (index into `World::services`).
    ApiKey(u32),
}

/// `subject_count` absent.
pub(crate) const NO_COUNT: u32 = u32::MAX;
/// `signing_key` absent.
pub(crate) const NO_KEY: u8 = u8::MAX;

/// One access record, compact: strings live in shared tables.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    /// Event time, Unix ms.
    pub t: i64,
    pub cred: CredRef,
    pub actor: ActorRef,
    /// Subjects: `subjects[subj_start..subj_start + subj_len]` of the day's arena, except that
    /// a single subject is kept inline (`subj_len == 1`, `subj_start` is the customer): most
    /// records name one customer, and reading it from the event avoids a cache miss.
    pub subj_start: u32,
    pub subj_len: u32,
    pub subject_count: u32,
    pub src_ip: u32,
    /// 0 = no purpose, else index + 1 into the purpose table.
    pub purpose: u32,
    pub fields: u16,
    pub resource: u16,
    pub action: Action,
    pub producer: Producer,
    /// Index into `World::keys`, or [`NO_KEY`].
    pub key: u8,
    /// 0 = unlabelled, else index + 1 into the ground-truth labels.
    pub tag: u8,
    /// Index into [`USER_AGENTS`] (0 = no attrs).
    pub ua: u8,
    pub failure: bool,
}

impl Event {
    pub(crate) fn new(
        t: i64,
        producer: Producer,
        actor: ActorRef,
        action: Action,
        resource: u16,
    ) -> Event {
        // Producers that write whole seconds get whole-second times, so the written time is
        // the event time and the file stays in order.
        let t = match producer.time_style() {
            Some(TimeStyle::KstSeconds | TimeStyle::UtcSeconds) => t - t.rem_euclid(1000),
            _ => t,
        };
        Event {
            t,
            cred: CredRef::None,
            actor,
            subj_start: 0,
            subj_len: 0,
            subject_count: NO_COUNT,
            src_ip: 0,
            purpose: 0,
            fields: 0,
            resource,
            action,
            producer,
            key: NO_KEY,
            tag: 0,
            ua: 0,
            failure: false,
        }
    }

    /// The subjects, given the day's arena.
    #[inline]
    pub(crate) fn subject_slice<'a>(&'a self, arena: &'a [u32]) -> &'a [u32] {
        if self.subj_len == 1 {
            std::slice::from_ref(&self.subj_start)
        } else {
            let s = self.subj_start as usize;
            arena.get(s..s + self.subj_len as usize).unwrap_or_default()
        }
    }

    pub(crate) fn ip(mut self, ip: u32) -> Event {
        self.src_ip = ip;
        self
    }

    pub(crate) fn cred(mut self, cred: CredRef, key: u8) -> Event {
        self.cred = cred;
        self.key = key;
        self
    }

    pub(crate) fn subjects(mut self, span: (u32, u32)) -> Event {
        self.subj_start = span.0;
        self.subj_len = span.1;
        self
    }

    pub(crate) fn count(mut self, n: u32) -> Event {
        self.subject_count = n;
        self
    }

    pub(crate) fn fields(mut self, f: u16) -> Event {
        self.fields = f;
        self
    }

    pub(crate) fn purpose(mut self, p: u32) -> Event {
        self.purpose = p;
        self
    }

    pub(crate) fn tag(mut self, tag: u8) -> Event {
        self.tag = tag;
        self
    }

    pub(crate) fn ua(mut self, ua: u8) -> Event {
        self.ua = ua;
        self
    }

    pub(crate) fn failed(mut self) -> Event {
        self.failure = true;
        self
    }
}
