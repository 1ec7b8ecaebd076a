//! Registry facts: the actor, the credential, the signing key and their owners, judged
//! against the registry as it stood at the record's event time (the versions `valid_from`
//! gives, see [`RegIndex`]). Stateless.

use super::*;

/// Registry facts, judged at the record's event time.
pub(super) fn registry_checks(
    off: i64,
    ix: &RegIndex,
    f: &Features,
    p: Option<&PInfo>,
    customer: bool,
    slots: &mut HashMap64<Slot>,
    em: &mut Emit<'_, '_>,
) {
    let t = f.time_ms;
    let adjust = |s: Severity| if f.failed { s.lower() } else { s };
    match p {
        Some(p) => match p.p.status_at(t) {
            PrincipalStatus::Departed => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::DepartedPrincipal,
                    adjust(Severity::Critical),
                    f.actor,
                    t,
                    IncidentOf::Actor,
                    Finding::Status {
                        status: PrincipalStatus::Departed,
                        since: p.p.departed_at,
                    },
                ),
            ),
            PrincipalStatus::Suspended => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::SuspendedPrincipal,
                    adjust(Severity::High),
                    f.actor,
                    t,
                    IncidentOf::Actor,
                    Finding::Status {
                        status: PrincipalStatus::Suspended,
                        since: p.p.suspended_at,
                    },
                ),
            ),
            PrincipalStatus::Active => {}
        },
        None if !customer => em.raise(
            slots,
            ix,
            day_hit(
                off,
                Rule::UnknownPrincipal,
                if f.failed {
                    Severity::Low
                } else {
                    Severity::High
                },
                f.actor,
                t,
                IncidentOf::Actor,
                Finding::Unknown,
            ),
        ),
        None => {}
    }

    // The key the record names, found by its stable hash and confirmed by the keyed one, as
    // the credential below: a crafted `kid` colliding with a registered key's hash is unknown.
    let presented_key = if f.signing_key != 0 {
        ix.key_at(f.signing_key, t)
            .filter(|k| k.check == f.signing_key_check)
    } else {
        None
    };
    // Found by its stable hash, confirmed by the keyed one: a crafted id that collides with a
    // registered credential's hash is not that credential.
    let cred = if f.credential != 0 && ix.maybe_credential(f.credential) {
        ix.cred_at(f.credential, t)
            .filter(|c| c.check == f.credential_check)
    } else {
        None
    };
    if let Some(c) = cred {
        let mut validity = c.c.validity_at(t);
        if validity == Validity::Expired && c.c.expires_at.is_some_and(|e| t < e + SKEW_MS) {
            validity = Validity::Valid;
        }
        if validity == Validity::NotYetIssued && c.c.issued_at.is_some_and(|i| t + SKEW_MS >= i) {
            validity = Validity::Valid;
        }
        match validity {
            Validity::Revoked => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::RevokedCredential,
                    adjust(Severity::High),
                    f.credential,
                    t,
                    IncidentOf::Principal(c.owner),
                    Finding::CredValidity {
                        validity,
                        at: c.c.revoked_at,
                    },
                ),
            ),
            Validity::Expired | Validity::NotYetIssued => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::ExpiredCredential,
                    if f.failed {
                        Severity::Low
                    } else {
                        Severity::High
                    },
                    f.credential,
                    t,
                    IncidentOf::Principal(c.owner),
                    Finding::CredValidity {
                        validity,
                        at: if validity == Validity::Expired {
                            c.c.expires_at
                        } else {
                            c.c.issued_at
                        },
                    },
                ),
            ),
            Validity::Valid => {}
        }
        if c.owner != f.actor {
            if let Some(owner) = c.owner_at(ix, t) {
                let st = owner.status_at(t);
                if st != PrincipalStatus::Active {
                    let sev = if st == PrincipalStatus::Departed {
                        Severity::Critical
                    } else {
                        Severity::High
                    };
                    em.raise(
                        slots,
                        ix,
                        day_hit(
                            off,
                            Rule::OrphanedCredential,
                            adjust(sev),
                            f.credential,
                            t,
                            IncidentOf::Principal(c.owner),
                            Finding::OrphanCred {
                                owner: c.owner,
                                status: st,
                                since: if st == PrincipalStatus::Departed {
                                    owner.departed_at
                                } else {
                                    owner.suspended_at
                                },
                            },
                        ),
                    );
                }
            }
            em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::CredentialOwnerMismatch,
                    adjust(Severity::High),
                    f.credential,
                    t,
                    IncidentOf::Principal(c.owner),
                    Finding::OwnerMismatch { owner: c.owner },
                ),
            );
        }
        if f.signing_key != 0 && c.key != 0 && f.signing_key != c.key {
            em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::ForgedCredential,
                    adjust(Severity::Critical),
                    f.signing_key,
                    t,
                    key_incident(ix, f.signing_key),
                    Finding::Forged {
                        key: f.signing_key,
                        registered_key: c.key,
                    },
                ),
            );
        }
    } else if f.signing_key != 0 {
        // A credential the key's issuer never registered, or none named at all (absent, empty
        // or null): either way not one that a `registered`-issuance key issued.
        if let Some(k) = presented_key {
            if k.k.issuance == Issuance::Registered {
                em.raise(
                    slots,
                    ix,
                    day_hit(
                        off,
                        Rule::ForgedCredential,
                        adjust(Severity::Critical),
                        f.signing_key,
                        t,
                        key_incident(ix, f.signing_key),
                        Finding::Forged {
                            key: f.signing_key,
                            registered_key: 0,
                        },
                    ),
                );
            }
        }
    }

    // The key that signed the credential: as presented, else as registered.
    let key = if f.signing_key != 0 {
        f.signing_key
    } else {
        cred.map_or(0, |c| c.key)
    };
    if key == 0 {
        return;
    }
    let found = if f.signing_key != 0 {
        presented_key
    } else {
        ix.key_at(key, t)
    };
    let Some(k) = found else {
        em.raise(
            slots,
            ix,
            day_hit(
                off,
                Rule::UnknownSigningKey,
                adjust(Severity::High),
                key,
                t,
                IncidentOf::Key(key),
                Finding::UnknownKey { key },
            ),
        );
        return;
    };
    match k.k.status_at(t) {
        KeyStatus::Revoked => em.raise(
            slots,
            ix,
            day_hit(
                off,
                Rule::RevokedSigningKey,
                adjust(Severity::Critical),
                key,
                t,
                key_incident(ix, key),
                Finding::KeyState {
                    key,
                    status: KeyStatus::Revoked,
                    since: k.k.revoked_at,
                },
            ),
        ),
        KeyStatus::Retired => {
            // A credential issued before the key retired may still be used until it expires.
            let issued_before = match (cred.and_then(|c| c.c.issued_at), k.k.retired_at) {
                (Some(i), Some(r)) => i < r,
                _ => false,
            };
            if !issued_before {
                em.raise(
                    slots,
                    ix,
                    day_hit(
                        off,
                        Rule::RetiredSigningKey,
                        adjust(Severity::High),
                        key,
                        t,
                        key_incident(ix, key),
                        Finding::KeyState {
                            key,
                            status: KeyStatus::Retired,
                            since: k.k.retired_at,
                        },
                    ),
                );
            }
        }
        KeyStatus::Active => {}
    }
    if k.owner != 0 && k.owner != f.actor {
        if let Some(owner) = k.owner_at(ix, t) {
            let st = owner.status_at(t);
            if st != PrincipalStatus::Active {
                let sev = if st == PrincipalStatus::Departed {
                    Severity::Critical
                } else {
                    Severity::High
                };
                em.raise(
                    slots,
                    ix,
                    day_hit(
                        off,
                        Rule::OrphanedSigningKey,
                        adjust(sev),
                        key,
                        t,
                        IncidentOf::Principal(k.owner),
                        Finding::OrphanKey {
                            key,
                            owner: k.owner,
                            status: st,
                            since: if st == PrincipalStatus::Departed {
                                owner.departed_at
                            } else {
                                owner.suspended_at
                            },
                        },
                    ),
                );
            }
        }
    }
}

/// Alerts about a key belong to its owner's incident when it has one.
pub(super) fn key_incident(ix: &RegIndex, key: u64) -> IncidentOf {
    match ix.keys.get(&key) {
        Some(k) if k.owner_p.is_some() => IncidentOf::Principal(k.owner),
        _ => IncidentOf::Key(key),
    }
}
