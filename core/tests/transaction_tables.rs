//! One test per row of the transaction state tables in `simple_im_core::sip::transaction` (RFC 3261
//! Figures 5-8 as modified by RFC 6026), plus the key and branch rules of §17.1.3, §17.2.3 and §8.1.1.7.

use simple_im_core::sip::transaction::*;
use simple_im_core::time::Instant;
use std::vec::Vec;

const T1: u64 = 500;
const T2: u64 = 4000;
const T4: u64 = 5000;
const REQ: &[u8] = b"REQUEST";

#[derive(Debug, PartialEq)]
enum Out {
    Tx(Vec<u8>),
    Ack(u16),
    Ev(Event),
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

macro_rules! drain {
    ($t:expr) => {{
        let mut outs = Vec::new();
        while let Some(o) = $t.poll_output() {
            outs.push(match o {
                Output::Transmit(b) => Out::Tx(b.to_vec()),
                Output::SendAck { status_code } => Out::Ack(status_code),
                Output::Event(e) => Out::Ev(e),
            });
        }
        outs
    }};
}

fn tx() -> Out {
    Out::Tx(REQ.to_vec())
}
fn resp(b: &[u8]) -> Out {
    Out::Tx(b.to_vec())
}
fn ev(e: Event) -> Out {
    Out::Ev(e)
}

const BOTH: [Reliability; 2] = [Reliability::Unreliable, Reliability::Reliable];

fn cfg() -> TimerConfig {
    TimerConfig::default()
}

/// Fires timers at each deadline until `until`, recording (instant, outputs) for every firing.
macro_rules! run_until {
    ($t:expr, $until:expr) => {{
        let mut fired = Vec::new();
        while let Some(deadline) = $t.poll_timeout() {
            if deadline > at($until) {
                break;
            }
            $t.handle_timeout(deadline);
            fired.push((deadline.as_millis(), drain!($t)));
        }
        fired
    }};
}

// ---------------------------------------------------------------- INVITE client (Figure 5 / 6026 Fig 5)

fn ci(rel: Reliability) -> ClientInvite<&'static [u8]> {
    let mut t = ClientInvite::new(at(0), cfg(), rel, REQ);
    assert_eq!(drain!(t), vec![tx()]);
    t
}

#[test]
fn client_invite_start() {
    for rel in BOTH {
        let t = ci(rel);
        assert_eq!(t.state(), ClientInviteState::Calling);
        assert_eq!(t.timer(TimerName::B), Some(at(64 * T1)));
        let a = if rel.is_reliable() { None } else { Some(at(T1)) };
        assert_eq!(t.timer(TimerName::A), a);
    }
}

#[test]
fn client_invite_calling_timer_a_retransmits_and_doubles() {
    let mut t = ci(Reliability::Unreliable);
    let fired = run_until!(t, 64 * T1 - 1);
    let instants: Vec<u64> = fired.iter().map(|(at, _)| *at).collect();
    // A fires at T1, then intervals 2T1, 4T1, ... (no cap for INVITE): 500, 1500, 3500, ..., 31500.
    assert_eq!(instants, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(fired.iter().all(|(_, outs)| outs == &vec![tx()]));
    assert_eq!(t.timer(TimerName::A), Some(at(31500 + 64 * T1)));
    // Reliable: no retransmission before B.
    let r = ci(Reliability::Reliable);
    assert_eq!(r.poll_timeout(), Some(at(64 * T1)));
}

#[test]
fn client_invite_calling_timer_b_times_out() {
    for rel in BOTH {
        let mut t = ci(rel);
        let fired = run_until!(t, 64 * T1);
        let (last_at, last) = fired.last().unwrap();
        assert_eq!(*last_at, 64 * T1);
        assert_eq!(last, &vec![ev(Event::TimedOut), ev(Event::Terminated)]);
        assert_eq!(t.state(), ClientInviteState::Terminated);
        assert_eq!(t.poll_timeout(), None);
    }
}

#[test]
fn client_invite_calling_1xx_to_proceeding() {
    for rel in BOTH {
        let mut t = ci(rel);
        t.handle_response(at(100), 180);
        assert_eq!(drain!(t), vec![ev(Event::ProvisionalReceived(180))]);
        assert_eq!(t.state(), ClientInviteState::Proceeding);
        // No more retransmissions and no timer B in Proceeding.
        assert_eq!(t.poll_timeout(), None);
    }
}

#[test]
fn client_invite_calling_2xx_to_accepted() {
    for rel in BOTH {
        let mut t = ci(rel);
        t.handle_response(at(200), 200);
        assert_eq!(drain!(t), vec![ev(Event::FinalReceived(200))]);
        assert_eq!(t.state(), ClientInviteState::Accepted);
        assert_eq!(t.poll_timeout(), Some(at(200 + 64 * T1)));
        assert_eq!(t.timer(TimerName::M), Some(at(200 + 64 * T1)));
    }
}

#[test]
fn client_invite_calling_300_699_acks_and_completes() {
    let mut t = ci(Reliability::Unreliable);
    t.handle_response(at(300), 486);
    assert_eq!(drain!(t), vec![Out::Ack(486), ev(Event::FinalReceived(486))]);
    assert_eq!(t.state(), ClientInviteState::Completed);
    assert_eq!(t.timer(TimerName::D), Some(at(300 + 32_000)));
    // Reliable: ACK is still sent (RFC 6026 §8.4), timer D is zero so Completed is left at once.
    let mut r = ci(Reliability::Reliable);
    r.handle_response(at(300), 603);
    assert_eq!(
        drain!(r),
        vec![
            Out::Ack(603),
            ev(Event::FinalReceived(603)),
            ev(Event::Terminated)
        ]
    );
    assert!(r.is_terminated());
}

#[test]
fn client_invite_calling_transport_error() {
    for rel in BOTH {
        let mut t = ci(rel);
        t.handle_transport_error(at(10));
        assert_eq!(drain!(t), vec![ev(Event::TransportError), ev(Event::Terminated)]);
        assert!(t.is_terminated());
    }
}

fn ci_proceeding(rel: Reliability) -> ClientInvite<&'static [u8]> {
    let mut t = ci(rel);
    t.handle_response(at(100), 100);
    drain!(t);
    t
}

#[test]
fn client_invite_proceeding_1xx_passed_up() {
    let mut t = ci_proceeding(Reliability::Unreliable);
    t.handle_response(at(150), 183);
    assert_eq!(drain!(t), vec![ev(Event::ProvisionalReceived(183))]);
    assert_eq!(t.state(), ClientInviteState::Proceeding);
}

#[test]
fn client_invite_proceeding_2xx_to_accepted() {
    for rel in BOTH {
        let mut t = ci_proceeding(rel);
        t.handle_response(at(5000), 202);
        assert_eq!(drain!(t), vec![ev(Event::FinalReceived(202))]);
        assert_eq!(t.state(), ClientInviteState::Accepted);
        assert_eq!(t.poll_timeout(), Some(at(5000 + 64 * T1)));
    }
}

#[test]
fn client_invite_proceeding_300_699_acks_and_completes() {
    let mut t = ci_proceeding(Reliability::Unreliable);
    t.handle_response(at(5000), 404);
    assert_eq!(drain!(t), vec![Out::Ack(404), ev(Event::FinalReceived(404))]);
    assert_eq!(t.state(), ClientInviteState::Completed);
    assert_eq!(t.poll_timeout(), Some(at(5000 + 32_000)));
}

#[test]
fn client_invite_completed_300_699_reacks_absorbed() {
    let mut t = ci(Reliability::Unreliable);
    t.handle_response(at(300), 486);
    drain!(t);
    t.handle_response(at(800), 486);
    assert_eq!(drain!(t), vec![Out::Ack(486)]);
    // Other responses are absorbed without any output.
    t.handle_response(at(900), 180);
    t.handle_response(at(901), 200);
    assert_eq!(drain!(t), vec![]);
    assert_eq!(t.state(), ClientInviteState::Completed);
}

#[test]
fn client_invite_completed_transport_error() {
    let mut t = ci(Reliability::Unreliable);
    t.handle_response(at(300), 500);
    drain!(t);
    t.handle_transport_error(at(301));
    assert_eq!(drain!(t), vec![ev(Event::TransportError), ev(Event::Terminated)]);
}

#[test]
fn client_invite_completed_timer_d_terminates() {
    let mut t = ci(Reliability::Unreliable);
    t.handle_response(at(300), 500);
    drain!(t);
    let fired = run_until!(t, 100_000);
    assert_eq!(fired, vec![(300 + 32_000, vec![ev(Event::Terminated)])]);
    // A larger T1 stretches D to 64*T1 so it never ends before the server's timer H.
    let slow = TimerConfig {
        t1: std::time::Duration::from_secs(1),
        ..cfg()
    };
    let mut s = ClientInvite::new(at(0), slow, Reliability::Unreliable, REQ);
    s.handle_response(at(0), 500);
    assert_eq!(s.timer(TimerName::D), Some(at(64_000)));
}

#[test]
fn client_invite_accepted_2xx_passed_up() {
    let mut t = ci(Reliability::Unreliable);
    t.handle_response(at(300), 200);
    drain!(t);
    t.handle_response(at(800), 200);
    t.handle_response(at(900), 200);
    assert_eq!(
        drain!(t),
        vec![ev(Event::FinalReceived(200)), ev(Event::FinalReceived(200))]
    );
    // No ACK is ever generated by the transaction for a 2xx; non-2xx is absorbed.
    t.handle_response(at(901), 486);
    assert_eq!(drain!(t), vec![]);
    assert_eq!(t.state(), ClientInviteState::Accepted);
}

#[test]
fn client_invite_accepted_timer_m_terminates() {
    for rel in BOTH {
        let mut t = ci(rel);
        t.handle_response(at(300), 200);
        drain!(t);
        let fired = run_until!(t, 100_000);
        assert_eq!(fired, vec![(300 + 64 * T1, vec![ev(Event::Terminated)])]);
        assert_eq!(t.poll_timeout(), None);
    }
}

// ---------------------------------------------------------------- non-INVITE client (Figure 6)

fn cn(rel: Reliability) -> ClientNonInvite<&'static [u8]> {
    let mut t = ClientNonInvite::new(at(0), cfg(), rel, REQ);
    assert_eq!(drain!(t), vec![tx()]);
    t
}

#[test]
fn client_non_invite_start() {
    for rel in BOTH {
        let t = cn(rel);
        assert_eq!(t.state(), ClientNonInviteState::Trying);
        assert_eq!(t.timer(TimerName::F), Some(at(64 * T1)));
        assert_eq!(
            t.timer(TimerName::E),
            if rel.is_reliable() { None } else { Some(at(T1)) }
        );
    }
}

#[test]
fn client_non_invite_trying_timer_e_retransmits_capped_at_t2() {
    let mut t = cn(Reliability::Unreliable);
    let fired = run_until!(t, 64 * T1 - 1);
    let instants: Vec<u64> = fired.iter().map(|(at, _)| *at).collect();
    // Intervals 500, 1000, 2000, 4000, 4000, ... (capped at T2).
    let mut expected = vec![500, 1500, 3500, 7500];
    while expected.last().unwrap() + T2 < 64 * T1 {
        expected.push(expected.last().unwrap() + T2);
    }
    assert_eq!(instants, expected);
    assert!(fired.iter().all(|(_, outs)| outs == &vec![tx()]));
    assert_eq!(t.state(), ClientNonInviteState::Trying);
}

#[test]
fn client_non_invite_trying_timer_f_times_out() {
    for rel in BOTH {
        let mut t = cn(rel);
        let fired = run_until!(t, 64 * T1);
        assert_eq!(
            fired.last().unwrap(),
            &(64 * T1, vec![ev(Event::TimedOut), ev(Event::Terminated)])
        );
        assert!(t.is_terminated());
    }
}

#[test]
fn client_non_invite_trying_transport_error() {
    for rel in BOTH {
        let mut t = cn(rel);
        t.handle_transport_error(at(1));
        assert_eq!(drain!(t), vec![ev(Event::TransportError), ev(Event::Terminated)]);
    }
}

#[test]
fn client_non_invite_trying_1xx_to_proceeding() {
    let mut t = cn(Reliability::Unreliable);
    t.handle_response(at(100), 100);
    assert_eq!(drain!(t), vec![ev(Event::ProvisionalReceived(100))]);
    assert_eq!(t.state(), ClientNonInviteState::Proceeding);
    // Retransmission continues, F keeps its original deadline.
    assert_eq!(t.timer(TimerName::E), Some(at(T1)));
    assert_eq!(t.timer(TimerName::F), Some(at(64 * T1)));
}

#[test]
fn client_non_invite_trying_200_699_completes() {
    let mut t = cn(Reliability::Unreliable);
    t.handle_response(at(100), 200);
    assert_eq!(drain!(t), vec![ev(Event::FinalReceived(200))]);
    assert_eq!(t.state(), ClientNonInviteState::Completed);
    assert_eq!(t.poll_timeout(), Some(at(100 + T4)));
    let mut r = cn(Reliability::Reliable);
    r.handle_response(at(100), 404);
    assert_eq!(
        drain!(r),
        vec![ev(Event::FinalReceived(404)), ev(Event::Terminated)]
    );
}

#[test]
fn client_non_invite_proceeding_timer_e_retransmits_at_t2() {
    let mut t = cn(Reliability::Unreliable);
    t.handle_response(at(100), 100);
    drain!(t);
    let fired = run_until!(t, 12_000);
    let instants: Vec<u64> = fired.iter().map(|(at, _)| *at).collect();
    // First E (armed in Trying) at T1, then every T2.
    assert_eq!(instants, vec![500, 4500, 8500]);
    assert!(fired.iter().all(|(_, outs)| outs == &vec![tx()]));
}

#[test]
fn client_non_invite_proceeding_timer_f_times_out() {
    for rel in BOTH {
        let mut t = cn(rel);
        t.handle_response(at(100), 180);
        drain!(t);
        let fired = run_until!(t, 64 * T1);
        assert_eq!(
            fired.last().unwrap(),
            &(64 * T1, vec![ev(Event::TimedOut), ev(Event::Terminated)])
        );
    }
}

#[test]
fn client_non_invite_proceeding_transport_error() {
    let mut t = cn(Reliability::Reliable);
    t.handle_response(at(100), 180);
    drain!(t);
    t.handle_transport_error(at(200));
    assert_eq!(drain!(t), vec![ev(Event::TransportError), ev(Event::Terminated)]);
}

#[test]
fn client_non_invite_proceeding_1xx_passed_up() {
    let mut t = cn(Reliability::Unreliable);
    t.handle_response(at(100), 100);
    t.handle_response(at(110), 183);
    assert_eq!(
        drain!(t),
        vec![
            ev(Event::ProvisionalReceived(100)),
            ev(Event::ProvisionalReceived(183))
        ]
    );
}

#[test]
fn client_non_invite_proceeding_200_699_completes() {
    let mut t = cn(Reliability::Unreliable);
    t.handle_response(at(100), 100);
    drain!(t);
    t.handle_response(at(1000), 603);
    assert_eq!(drain!(t), vec![ev(Event::FinalReceived(603))]);
    assert_eq!(t.timer(TimerName::K), Some(at(1000 + T4)));
    assert_eq!(t.timer(TimerName::E), None);
    assert_eq!(t.timer(TimerName::F), None);
}

#[test]
fn client_non_invite_completed_responses_absorbed() {
    let mut t = cn(Reliability::Unreliable);
    t.handle_response(at(100), 200);
    drain!(t);
    for code in [200, 100, 500] {
        t.handle_response(at(200), code);
    }
    assert_eq!(drain!(t), vec![]);
    assert_eq!(t.state(), ClientNonInviteState::Completed);
}

#[test]
fn client_non_invite_completed_timer_k_terminates() {
    let mut t = cn(Reliability::Unreliable);
    t.handle_response(at(100), 200);
    drain!(t);
    assert_eq!(
        run_until!(t, 100_000),
        vec![(100 + T4, vec![ev(Event::Terminated)])]
    );
}

// ---------------------------------------------------------------- INVITE server (6026 Figure 5)

const R100: &[u8] = b"100";
const R180: &[u8] = b"180";
const R200: &[u8] = b"200";
const R486: &[u8] = b"486";

fn si(rel: Reliability) -> ServerInvite<&'static [u8]> {
    let mut t = ServerInvite::new(at(0), cfg(), rel);
    assert_eq!(drain!(t), vec![]);
    t
}

#[test]
fn server_invite_start() {
    let t = si(Reliability::Unreliable);
    assert_eq!(t.state(), ServerInviteState::Proceeding);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn server_invite_proceeding_invite_resends_provisional() {
    let mut t = si(Reliability::Unreliable);
    t.handle_request(at(10), ServerRequest::Retransmission);
    assert_eq!(
        drain!(t),
        vec![],
        "nothing to resend before a provisional response"
    );
    t.send_response(at(20), 100, R100).unwrap();
    t.send_response(at(30), 180, R180).unwrap();
    drain!(t);
    t.handle_request(at(40), ServerRequest::Retransmission);
    assert_eq!(drain!(t), vec![resp(R180)]);
    assert_eq!(t.state(), ServerInviteState::Proceeding);
}

#[test]
fn server_invite_proceeding_tu_1xx_sent() {
    let mut t = si(Reliability::Unreliable);
    t.send_response(at(20), 100, R100).unwrap();
    assert_eq!(drain!(t), vec![resp(R100)]);
    assert_eq!(t.state(), ServerInviteState::Proceeding);
}

#[test]
fn server_invite_proceeding_tu_2xx_to_accepted() {
    for rel in BOTH {
        let mut t = si(rel);
        t.send_response(at(20), 200, R200).unwrap();
        assert_eq!(drain!(t), vec![resp(R200)]);
        assert_eq!(t.state(), ServerInviteState::Accepted);
        assert_eq!(t.poll_timeout(), Some(at(20 + 64 * T1)));
        assert_eq!(t.timer(TimerName::L), Some(at(20 + 64 * T1)));
    }
}

#[test]
fn server_invite_proceeding_tu_300_699_to_completed() {
    for rel in BOTH {
        let mut t = si(rel);
        t.send_response(at(20), 486, R486).unwrap();
        assert_eq!(drain!(t), vec![resp(R486)]);
        assert_eq!(t.state(), ServerInviteState::Completed);
        assert_eq!(t.timer(TimerName::H), Some(at(20 + 64 * T1)));
        assert_eq!(
            t.timer(TimerName::G),
            if rel.is_reliable() {
                None
            } else {
                Some(at(20 + T1))
            }
        );
    }
}

#[test]
fn server_invite_proceeding_transport_error_stays() {
    let mut t = si(Reliability::Reliable);
    t.send_response(at(20), 180, R180).unwrap();
    drain!(t);
    t.handle_transport_error(at(21));
    assert_eq!(drain!(t), vec![ev(Event::TransportError)]);
    assert_eq!(t.state(), ServerInviteState::Proceeding);
}

fn si_completed(rel: Reliability) -> ServerInvite<&'static [u8]> {
    let mut t = si(rel);
    t.send_response(at(0), 486, R486).unwrap();
    drain!(t);
    t
}

#[test]
fn server_invite_completed_invite_resends_final() {
    let mut t = si_completed(Reliability::Unreliable);
    t.handle_request(at(100), ServerRequest::Retransmission);
    assert_eq!(drain!(t), vec![resp(R486)]);
    assert_eq!(t.send_response(at(101), 180, R180), Err(SendError::WrongState));
    assert_eq!(t.send_response(at(101), 200, R200), Err(SendError::WrongState));
}

#[test]
fn server_invite_completed_timer_g_retransmits_capped_at_t2() {
    let mut t = si_completed(Reliability::Unreliable);
    let fired = run_until!(t, 64 * T1 - 1);
    let instants: Vec<u64> = fired.iter().map(|(at, _)| *at).collect();
    let mut expected = vec![500, 1500, 3500, 7500];
    while expected.last().unwrap() + T2 < 64 * T1 {
        expected.push(expected.last().unwrap() + T2);
    }
    assert_eq!(instants, expected);
    assert!(fired.iter().all(|(_, outs)| outs == &vec![resp(R486)]));
    let r = si_completed(Reliability::Reliable);
    assert_eq!(
        r.poll_timeout(),
        Some(at(64 * T1)),
        "no timer G on reliable transports"
    );
}

#[test]
fn server_invite_completed_timer_h_times_out() {
    for rel in BOTH {
        let mut t = si_completed(rel);
        let fired = run_until!(t, 64 * T1);
        assert_eq!(
            fired.last().unwrap(),
            &(64 * T1, vec![ev(Event::TimedOut), ev(Event::Terminated)])
        );
        assert!(t.is_terminated());
    }
}

#[test]
fn server_invite_completed_ack_to_confirmed() {
    let mut t = si_completed(Reliability::Unreliable);
    t.handle_request(at(700), ServerRequest::Ack);
    assert_eq!(drain!(t), vec![], "the ACK to a non-2xx is not passed to the TU");
    assert_eq!(t.state(), ServerInviteState::Confirmed);
    assert_eq!(t.poll_timeout(), Some(at(700 + T4)));
    let mut r = si_completed(Reliability::Reliable);
    r.handle_request(at(700), ServerRequest::Ack);
    assert_eq!(
        drain!(r),
        vec![ev(Event::Terminated)],
        "timer I is zero on reliable transports"
    );
}

#[test]
fn server_invite_completed_transport_error_stays() {
    let mut t = si_completed(Reliability::Unreliable);
    t.handle_transport_error(at(1));
    assert_eq!(drain!(t), vec![ev(Event::TransportError)]);
    assert_eq!(t.state(), ServerInviteState::Completed);
    t.handle_request(at(2), ServerRequest::Retransmission);
    assert_eq!(drain!(t), vec![resp(R486)]);
}

#[test]
fn server_invite_confirmed_absorbs_ack_and_invite() {
    let mut t = si_completed(Reliability::Unreliable);
    t.handle_request(at(700), ServerRequest::Ack);
    t.handle_request(at(800), ServerRequest::Ack);
    t.handle_request(at(900), ServerRequest::Retransmission);
    assert_eq!(drain!(t), vec![]);
    assert_eq!(t.state(), ServerInviteState::Confirmed);
}

#[test]
fn server_invite_confirmed_timer_i_terminates() {
    let mut t = si_completed(Reliability::Unreliable);
    t.handle_request(at(700), ServerRequest::Ack);
    assert_eq!(
        run_until!(t, 100_000),
        vec![(700 + T4, vec![ev(Event::Terminated)])]
    );
}

fn si_accepted(rel: Reliability) -> ServerInvite<&'static [u8]> {
    let mut t = si(rel);
    t.send_response(at(0), 200, R200).unwrap();
    drain!(t);
    t
}

#[test]
fn server_invite_accepted_absorbs_invite() {
    let mut t = si_accepted(Reliability::Unreliable);
    t.handle_request(at(100), ServerRequest::Retransmission);
    assert_eq!(drain!(t), vec![]);
    assert_eq!(t.state(), ServerInviteState::Accepted);
}

#[test]
fn server_invite_accepted_tu_2xx_sent() {
    let mut t = si_accepted(Reliability::Unreliable);
    t.send_response(at(500), 200, R200).unwrap();
    assert_eq!(drain!(t), vec![resp(R200)]);
    assert_eq!(t.send_response(at(501), 486, R486), Err(SendError::WrongState));
    assert_eq!(t.state(), ServerInviteState::Accepted);
    // The transaction never retransmits the 2xx by itself.
    let fired = run_until!(t, 64 * T1);
    assert_eq!(fired, vec![(64 * T1, vec![ev(Event::Terminated)])]);
}

#[test]
fn server_invite_accepted_ack_passed_up() {
    let mut t = si_accepted(Reliability::Unreliable);
    t.handle_request(at(100), ServerRequest::Ack);
    t.handle_request(at(200), ServerRequest::Ack);
    assert_eq!(drain!(t), vec![ev(Event::AckReceived), ev(Event::AckReceived)]);
    assert_eq!(t.state(), ServerInviteState::Accepted);
}

#[test]
fn server_invite_accepted_transport_error_stays() {
    let mut t = si_accepted(Reliability::Reliable);
    t.handle_transport_error(at(1));
    assert_eq!(drain!(t), vec![ev(Event::TransportError)]);
    assert_eq!(t.state(), ServerInviteState::Accepted);
}

#[test]
fn server_invite_accepted_timer_l_terminates() {
    for rel in BOTH {
        let mut t = si_accepted(rel);
        assert_eq!(
            run_until!(t, 100_000),
            vec![(64 * T1, vec![ev(Event::Terminated)])]
        );
    }
}

// ---------------------------------------------------------------- non-INVITE server (Figure 8)

fn sn(rel: Reliability) -> ServerNonInvite<&'static [u8]> {
    let mut t = ServerNonInvite::new(at(0), cfg(), rel);
    assert_eq!(drain!(t), vec![]);
    t
}

#[test]
fn server_non_invite_start() {
    let t = sn(Reliability::Unreliable);
    assert_eq!(t.state(), ServerNonInviteState::Trying);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn server_non_invite_trying_request_absorbed() {
    let mut t = sn(Reliability::Unreliable);
    t.handle_request(at(10));
    assert_eq!(drain!(t), vec![]);
    assert_eq!(t.state(), ServerNonInviteState::Trying);
}

#[test]
fn server_non_invite_trying_tu_1xx_to_proceeding() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 100, R100).unwrap();
    assert_eq!(drain!(t), vec![resp(R100)]);
    assert_eq!(t.state(), ServerNonInviteState::Proceeding);
}

#[test]
fn server_non_invite_trying_tu_200_699_completes() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 200, R200).unwrap();
    assert_eq!(drain!(t), vec![resp(R200)]);
    assert_eq!(t.state(), ServerNonInviteState::Completed);
    assert_eq!(t.timer(TimerName::J), Some(at(10 + 64 * T1)));
    let mut r = sn(Reliability::Reliable);
    r.send_response(at(10), 486, R486).unwrap();
    assert_eq!(
        drain!(r),
        vec![resp(R486), ev(Event::Terminated)],
        "timer J is zero on reliable transports"
    );
}

#[test]
fn server_non_invite_proceeding_request_resends_provisional() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 100, R100).unwrap();
    drain!(t);
    t.handle_request(at(20));
    assert_eq!(drain!(t), vec![resp(R100)]);
}

#[test]
fn server_non_invite_proceeding_tu_1xx_sent() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 100, R100).unwrap();
    t.send_response(at(11), 180, R180).unwrap();
    assert_eq!(
        drain!(t),
        vec![resp(R180), resp(R180)],
        "Transmit resolves to the latest response"
    );
    t.handle_request(at(20));
    assert_eq!(drain!(t), vec![resp(R180)]);
}

#[test]
fn server_non_invite_proceeding_tu_200_699_completes() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 100, R100).unwrap();
    drain!(t);
    t.send_response(at(20), 200, R200).unwrap();
    assert_eq!(drain!(t), vec![resp(R200)]);
    assert_eq!(t.poll_timeout(), Some(at(20 + 64 * T1)));
}

#[test]
fn server_non_invite_proceeding_transport_error() {
    let mut t = sn(Reliability::Reliable);
    t.send_response(at(10), 100, R100).unwrap();
    drain!(t);
    t.handle_transport_error(at(11));
    assert_eq!(drain!(t), vec![ev(Event::TransportError), ev(Event::Terminated)]);
}

#[test]
fn server_non_invite_completed_request_resends_final() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 404, R486).unwrap();
    drain!(t);
    t.handle_request(at(20));
    t.handle_request(at(30));
    assert_eq!(drain!(t), vec![resp(R486), resp(R486)]);
}

#[test]
fn server_non_invite_completed_tu_response_refused() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 200, R200).unwrap();
    drain!(t);
    assert_eq!(t.send_response(at(20), 200, R200), Err(SendError::WrongState));
    assert_eq!(t.send_response(at(20), 100, R100), Err(SendError::WrongState));
    assert_eq!(
        t.send_response(at(20), 700, R100),
        Err(SendError::InvalidStatus(700))
    );
    assert_eq!(drain!(t), vec![]);
    t.handle_request(at(30));
    assert_eq!(
        drain!(t),
        vec![resp(R200)],
        "the stored final response is unchanged"
    );
}

#[test]
fn server_non_invite_completed_transport_error() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 200, R200).unwrap();
    drain!(t);
    t.handle_transport_error(at(11));
    assert_eq!(drain!(t), vec![ev(Event::TransportError), ev(Event::Terminated)]);
}

#[test]
fn server_non_invite_completed_timer_j_terminates() {
    let mut t = sn(Reliability::Unreliable);
    t.send_response(at(10), 200, R200).unwrap();
    drain!(t);
    assert_eq!(
        run_until!(t, 100_000),
        vec![(10 + 64 * T1, vec![ev(Event::Terminated)])]
    );
}

// ---------------------------------------------------------------- matching (§17.1.3, §17.2.3) and branches

struct Counter(u8);
impl simple_im_core::rng::Rng for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

#[test]
fn branch_has_cookie_and_at_least_64_random_bits() {
    let mut rng = Counter(0);
    let a = generate_branch(&mut rng);
    let b = generate_branch(&mut rng);
    assert!(a.starts_with(MAGIC_COOKIE));
    assert_eq!(a.as_str(), "z9hG4bK0102030405060708090a0b0c");
    assert_ne!(a, b);
    assert!((a.len() - MAGIC_COOKIE.len()) * 4 >= 64);
    assert!(TransactionKey::client(&a, "INVITE").is_ok());
}

#[test]
fn client_key_matches_branch_and_cseq_method() {
    let k = TransactionKey::client("z9hG4bKabc", "INVITE").unwrap();
    assert_eq!(k, TransactionKey::client("z9hG4bKabc", "INVITE").unwrap());
    assert_ne!(k, TransactionKey::client("z9hG4bKabc", "CANCEL").unwrap());
    assert_ne!(k, TransactionKey::client("z9hG4bKabd", "INVITE").unwrap());
    assert_ne!(
        k,
        TransactionKey::server("z9hG4bKabc", "a.example", "INVITE").unwrap()
    );
    assert_eq!(
        TransactionKey::client("abc", "INVITE"),
        Err(KeyError::NotRfc3261Branch)
    );
}

#[test]
fn server_key_ack_matches_invite_cancel_does_not() {
    let invite = TransactionKey::server("z9hG4bK74bf9", "pc33.example.com:5060", "INVITE").unwrap();
    let ack = TransactionKey::server("z9hG4bK74bf9", "PC33.example.com:5060", "ACK").unwrap();
    let cancel = TransactionKey::server("z9hG4bK74bf9", "pc33.example.com:5060", "CANCEL").unwrap();
    assert_eq!(
        invite, ack,
        "ACK counts as INVITE and sent-by host is case-insensitive"
    );
    assert_ne!(invite, cancel);
    assert_ne!(
        invite,
        TransactionKey::server("z9hG4bK74bf9", "pc34.example.com:5060", "INVITE").unwrap()
    );
    assert_eq!(invite.method(), "INVITE");
    assert!(invite.is_invite() && !cancel.is_invite());
}

#[test]
fn server_key_limits_are_typed_errors() {
    let long = "z9hG4bK".to_string() + &"x".repeat(100);
    assert_eq!(
        TransactionKey::server(&long, "h", "INVITE"),
        Err(KeyError::BranchTooLong)
    );
    assert_eq!(
        TransactionKey::server("z9hG4bK1", &"h".repeat(100), "INVITE"),
        Err(KeyError::SentByTooLong)
    );
    assert_eq!(
        TransactionKey::server("z9hG4bK1", "h", ""),
        Err(KeyError::BadMethod)
    );
    assert_eq!(
        TransactionKey::server("z9hG4bK1", "h", &"M".repeat(40)),
        Err(KeyError::BadMethod)
    );
}

/// RFC 4475 §3.2.1: the branch is exactly the cookie, which is no RFC 3261 identifier; the element
/// may fall back to RFC 2543 matching.
#[test]
fn rfc4475_badbranch() {
    let msg = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/rfc4475/transaction/badbranch.dat"
    ))
    .unwrap();
    let via = msg.lines().find_map(|l| l.strip_prefix("Via: ")).unwrap();
    let branch = via.split(";branch=").nth(1).unwrap();
    assert_eq!(branch, "z9hG4bK");
    assert!(!key::is_rfc3261_branch(branch));
    assert_eq!(
        TransactionKey::server(branch, "192.0.2.1", "OPTIONS"),
        Err(KeyError::NotRfc3261Branch)
    );
    let pieces = Rfc2543Pieces {
        request_uri: "sip:user@example.com",
        from_tag: "33242",
        call_id: "badbranch.sadonfo23i420jv0as0derf3j3n",
        cseq_number: 8,
        method: "OPTIONS",
        top_via: via,
    };
    let fallback = TransactionKey::server_rfc2543(&pieces).unwrap();
    assert_eq!(fallback, TransactionKey::server_rfc2543(&pieces).unwrap());
    assert_eq!(fallback.branch(), None);
    let other = Rfc2543Pieces {
        cseq_number: 9,
        ..pieces
    };
    assert_ne!(fallback, TransactionKey::server_rfc2543(&other).unwrap());
}

#[test]
fn rfc2543_fallback_ack_matches_invite() {
    let invite = Rfc2543Pieces {
        request_uri: "sip:bob@example.com",
        from_tag: "1",
        call_id: "c",
        cseq_number: 1,
        method: "INVITE",
        top_via: "SIP/2.0/UDP host;branch=old",
    };
    let ack = Rfc2543Pieces {
        method: "ACK",
        ..invite
    };
    let cancel = Rfc2543Pieces {
        method: "CANCEL",
        ..invite
    };
    assert_eq!(
        TransactionKey::server_rfc2543(&invite),
        TransactionKey::server_rfc2543(&ack)
    );
    assert_ne!(
        TransactionKey::server_rfc2543(&invite),
        TransactionKey::server_rfc2543(&cancel)
    );
}

// ---------------------------------------------------------------- the table

fn client_key(n: u32) -> TransactionKey {
    TransactionKey::client(&format!("z9hG4bK{n}"), "MESSAGE").unwrap()
}

#[test]
fn table_dispatches_by_key_and_removes_terminated() {
    let mut table: TransactionTable<&'static [u8], 2> = TransactionTable::new();
    let tx =
        |now| Transaction::ClientNonInvite(ClientNonInvite::new(now, cfg(), Reliability::Unreliable, REQ));
    table.insert(at(0), client_key(1), tx(at(0))).unwrap();
    table.insert(at(100), client_key(2), tx(at(100))).unwrap();
    assert_eq!(
        table.insert(at(100), client_key(2), tx(at(0))),
        Err(TableError::DuplicateKey)
    );
    assert_eq!(
        table.insert(at(100), client_key(3), tx(at(0))),
        Err(TableError::Full)
    );
    let mut sent = 0;
    while let Some((_, out)) = table.poll_output() {
        assert_eq!(out, Output::Transmit(REQ));
        sent += 1;
    }
    assert_eq!(sent, 2);
    assert_eq!(table.poll_timeout(), Some(at(T1)));
    assert_eq!(
        table.handle_response(at(200), &client_key(9), 200),
        Err(DispatchError::NoMatch)
    );
    table.handle_response(at(200), &client_key(1), 200).unwrap();
    table.handle_response(at(200), &client_key(2), 200).unwrap();
    let mut outs = Vec::new();
    while let Some((k, out)) = table.poll_output() {
        outs.push((k.clone(), format!("{out:?}")));
    }
    assert_eq!(outs.len(), 2);
    assert_eq!(table.poll_timeout(), Some(at(200 + T4)));
    table.handle_timeout(at(200 + T4));
    let mut terminated = 0;
    while let Some((_, out)) = table.poll_output() {
        assert_eq!(out, Output::Event(Event::Terminated));
        terminated += 1;
    }
    assert_eq!(terminated, 2);
    assert!(table.is_empty());
    assert!(table.get(&client_key(1)).is_none());
    assert_eq!(table.poll_timeout(), None);
}

#[test]
fn table_routes_requests_and_responses_to_the_right_kind() {
    let mut table: TransactionTable<&'static [u8]> = TransactionTable::new();
    let server = TransactionKey::server("z9hG4bKs", "h", "MESSAGE").unwrap();
    table
        .insert(
            at(0),
            server.clone(),
            Transaction::ServerNonInvite(ServerNonInvite::new(at(0), cfg(), Reliability::Reliable)),
        )
        .unwrap();
    assert_eq!(
        table.handle_response(at(1), &server, 200),
        Err(DispatchError::WrongKind)
    );
    assert_eq!(
        table.handle_request(at(1), &server, ServerRequest::Ack),
        Err(DispatchError::WrongKind)
    );
    assert_eq!(
        table.send_response(at(1), &server, 99, R100),
        Err(DispatchError::Send(SendError::InvalidStatus(99)))
    );
    table.send_response(at(1), &server, 200, R200).unwrap();
    assert_eq!(table.poll_output().map(|(_, o)| o), Some(Output::Transmit(R200)));
    assert_eq!(
        table.poll_output().map(|(_, o)| o),
        Some(Output::Event(Event::Terminated))
    );
    assert!(table.poll_output().is_none());
    assert_eq!(
        table.handle_request(at(2), &server, ServerRequest::Retransmission),
        Err(DispatchError::NoMatch)
    );
}
