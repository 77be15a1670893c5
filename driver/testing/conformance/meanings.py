"""What the failure of each conformance check means for a host, in one phrase each.

The tables of docs/CONFORMANCE.md say the same (a test keeps them equal); `needlepen
conformance` prints the phrase beside each failure.
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    "test_a_frame_with_a_bad_crc_is_dropped_without_an_answer": (
        "the pen trusts or answers a corrupted frame: line noise could command it"
    ),
    "test_a_frame_of_another_version_is_dropped_without_an_answer": (
        "the pen acts on frames of a protocol it does not speak"
    ),
    "test_a_frame_longer_than_64_bytes_is_dropped_without_an_answer": (
        "a length check is missing (buffer overrun risk)"
    ),
    "test_a_frame_shorter_than_a_header_and_crc_is_dropped": (
        "short frames are read past their end"
    ),
    "test_an_unknown_type_is_nacked_unknown_type_with_its_seq": (
        "the host cannot tell a firmware mismatch from a lost frame"
    ),
    "test_a_wrong_payload_length_is_nacked_bad_length_and_not_executed": (
        "the pen guesses at malformed commands"
    ),
    "test_empty_frames_are_ignored": ("the host's flush (a 0x00 before a frame) confuses the pen"),
    "test_the_pen_resynchronises_after_garbage": ("after noise the pen stays lost"),
    "test_a_runaway_frame_without_a_delimiter_costs_nothing_after_the_next_zero": (
        "an overlong frame wedges the receiver"
    ),
    "test_a_frame_cut_into_pieces_is_understood": (
        "the pen needs a frame in one read (a real UART delivers bytes one by one)"
    ),
    "test_frames_back_to_back_in_one_write_are_each_answered_in_turn": (
        "frames after the first in a buffer are lost"
    ),
    "test_answers_carry_the_commands_seq_across_the_wrap": ("answers are mismatched at the wrap"),
    "test_commands_sent_without_waiting_are_each_answered_exactly_once": (
        "answers are lost or doubled under load"
    ),
    "test_a_resent_set_depth_is_answered_again_but_not_executed_again": (
        "a late resend rolls the depth back"
    ),
    "test_a_resent_nack_is_answered_with_the_same_nack": ("the duplicate window only holds ACKs"),
    "test_a_resent_start_does_not_start_the_needle_again": (
        "a delayed copy can restart the needle after a STOP"
    ),
    "test_a_resent_hello_does_not_open_another_session": (
        "a resent HELLO ends the session (and stops the needle)"
    ),
    "test_late_copies_of_an_estop_are_acked_but_do_not_latch_again": (
        "the e-stop copies are not recognised as one command"
    ),
    "test_the_same_seq_with_another_type_is_a_new_command": ("the window is keyed on seq alone"),
    "test_the_pen_remembers_at_least_the_last_16_commands": (
        "the window is smaller than the ICD's 16"
    ),
    "test_status_and_event_frames_carry_a_gap_free_counter": (
        "the host would count lost telemetry where there is none"
    ),
    "test_hello_opens_a_session_and_info_echoes_the_nonce": ("the handshake is broken"),
    "test_info_describes_a_pen_that_can_keep_its_promises": ("INFO misleads the host's governor"),
    "test_a_home_pen_reports_depth_max_below_1_mm": ("a home pen could go 1 mm deep"),
    "test_hello_with_another_proto_is_refused_and_changes_nothing": (
        "a mismatched host could take over the pen"
    ),
    "test_every_command_but_stop_and_estop_needs_a_session": (
        "a pen without a session can be commanded"
    ),
    "test_stop_and_estop_are_obeyed_without_a_session_and_the_latch_needs_one": (
        "an e-stop is refused when it matters most"
    ),
    "test_heartbeat_is_never_answered": ("the host would see stray answers"),
    "test_hello_during_a_session_stops_the_needle_and_starts_a_new_session": (
        "a second host (or a restarted one) inherits a running needle"
    ),
    "test_the_watchdog_stops_a_running_needle_within_watchdog_ms": (
        "a lost host leaves the needle running"
    ),
    "test_the_watchdog_ends_an_idle_session_too": ("a session outlives its host"),
    "test_the_pen_never_resumes_by_itself_after_a_trip": (
        "the needle could restart when the link comes back"
    ),
    "test_damaged_frames_do_not_feed_the_watchdog": ("line noise keeps a dead session alive"),
    "test_heartbeats_alone_keep_the_session_open": ("the pen trips with a healthy host"),
    "test_estop_from_running_stops_the_needle_before_the_ack": (
        "the needle can still run after the host was told it stopped"
    ),
    "test_estop_is_obeyed_and_acked_in_every_state": ("an e-stop is refused in some state"),
    "test_stop_is_obeyed_and_acked_in_every_state": ("STOP is refused or releases the e-stop"),
    "test_the_estop_latch_survives_hello_and_only_reset_2_releases_it": (
        "a new session or the wrong reset clears an e-stop"
    ),
    "test_the_estop_latch_survives_a_watchdog_trip": ("a watchdog trip clears an e-stop"),
    "test_stop_from_running_returns_to_idle": ("STOP does not stop the needle"),
    "test_reset_with_an_undefined_what_is_refused_and_changes_nothing": (
        "unknown resets release latches"
    ),
    "test_set_depth_is_applied_inside_the_range_and_refused_outside_it": (
        "the second line of defence is missing"
    ),
    "test_set_rate_is_applied_inside_the_range_and_refused_outside_it": (
        "the pen's own rate limits are missing or misreported"
    ),
    "test_the_pen_does_not_clamp_a_depth_past_its_maximum": (
        "the pen clamps (the host's governor must decide, and must know)"
    ),
    "test_depth_changes_while_running_slew_to_the_set_point": (
        "depth changes stop the needle, jump, or overshoot"
    ),
    "test_start_from_idle_runs_the_needle_at_the_rate_set": (
        "the needle does not run as the host asked (state, cartridge, motor or stamps)"
    ),
    "test_start_without_a_session_is_refused": ("a pen without a session can start the needle"),
    "test_start_with_the_estop_latched_is_refused": (
        "the needle can start while the e-stop is latched"
    ),
    "test_start_while_running_changes_nothing": (
        "a repeated START disturbs a running needle or swaps its cartridge"
    ),
    "test_a_cartridge_used_in_an_earlier_session_is_spent_and_refused": (
        "a cartridge can be reused on another client"
    ),
    "test_status_streams_at_the_rate_set": (
        "telemetry does not come at the rate asked, so the host misjudges the link"
    ),
    "test_status_streams_in_every_state": (
        "the host goes blind when it matters (e.g. after a trip)"
    ),
    "test_telemetry_0_turns_the_stream_off_and_it_can_come_back": (
        "telemetry cannot be turned off and on again"
    ),
    "test_status_reports_the_pen_as_it_is": (
        "STATUS misreports the pen (counters going back, impossible values)"
    ),
    "test_a_telemetry_rate_above_200_is_refused_and_the_stream_goes_on": (
        "a telemetry rate past the ICD is accepted, or a refusal stops the stream"
    ),
    "test_any_telemetry_rate_from_1_to_200_is_accepted": (
        "a telemetry rate the ICD allows is refused"
    ),
    "test_after_boot_there_is_no_session_telemetry_is_off_and_boot_id_is_new": (
        "after a power cycle the pen is not as a host relies on (no session, telemetry off, "
        "a new boot_id, the needle retracted)"
    ),
    "test_telemetry_stops_when_the_pen_reboots": (
        "a rebooted pen keeps streaming as if nothing happened"
    ),
    "test_pulling_the_cartridge_while_running_latches_a_fault_and_stops_the_needle": (
        "a needle without its cartridge keeps running, or the fault clears by itself"
    ),
    "test_estop_is_acked_in_fault_and_telemetry_flows_there": (
        "a faulted pen refuses the e-stop or goes blind"
    ),
    "test_a_latched_fault_survives_a_watchdog_trip_and_a_new_session": (
        "a new session or a watchdog trip clears a latched fault"
    ),
    "test_start_without_a_cartridge_is_refused": ("the needle can start without a cartridge"),
    "test_a_used_cartridge_put_back_is_spent_and_refused": (
        "a used cartridge put back can be reused on another client"
    ),
    "test_start_on_a_low_battery_is_refused": ("the needle can start on a flat battery"),
    "test_overheating_latches_a_fault_until_the_pen_has_cooled_and_is_reset": (
        "an overheated pen can run again before it has cooled"
    ),
    "test_a_jammed_depth_actuator_raises_depth_error_and_stops_the_needle": (
        "the needle runs on with the depth actuator off its set-point"
    ),
    "test_a_stalled_motor_latches_motor_stall": (
        "a stalled motor is not reported or clears by itself"
    ),
    "test_the_driver_treats_estops_and_closes_in_each_role_the_pen_allows": (
        "the needlepen host cannot work with this pen in that role (the sentence names the "
        "step), however well the pen keeps the ICD's letter"
    ),
    "test_a_fault_event_names_the_fault_that_status_shows": (
        "a host names the wrong fault to the operator (FAULT_RAISED's detail is the bit "
        "number of a fault STATUS shows)"
    ),
    "test_an_estop_is_confirmed_by_its_ack_and_every_status_after_it_says_estop": (
        "a host cannot confirm its e-stop, or confirms one the pen does not keep"
    ),
    "test_start_is_refused_while_the_needle_is_still_deeper_than_a_new_shallower_set_point": (
        "the needle can start deeper than the depth just approved (the actuator still on its "
        "way up)"
    ),
    "test_an_operator_is_asked_and_the_check_waits_until_telemetry_shows_it": (
        "the suite's operator mode is broken (a fault of the suite, not of the pen)"
    ),
    "test_an_operator_who_does_nothing_fails_the_check_with_a_sentence": (
        "the suite's operator mode is broken (a fault of the suite, not of the pen)"
    ),
    "test_without_an_operator_a_physical_step_is_reported_not_passed": (
        "the suite's operator mode is broken (a fault of the suite, not of the pen)"
    ),
}


def meaning(check: str) -> str:
    """The phrase for a check (its name, with or without a [parameter] id)."""
    name = check.split("[", 1)[0]
    return MEANINGS.get(name, "the pen does not keep the promise this check is named for")
