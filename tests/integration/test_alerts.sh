#!/usr/bin/env bash
# tests/integration/test_alerts.sh - ecom-alerts against a throwaway
# PostgreSQL, a webhook receiver (fake_http.py) and a real Prometheus
# Alertmanager (Debian's prometheus-alertmanager), read back through its
# /api/v2/alerts:
#  - every rule kind fires from what its source holds (ecom-metrics'
#    series, the dead-letter and raw tables, ecom-quality's and
#    ecom-scheduler's history, ecom-stream's fraud and stock alerts, a
#    /health URL), once, to the webhook and to Alertmanager;
#  - a for-duration holds a rule back; every rule repeats on its interval
#    and resolves once its source is back to normal (webhook and Alertmanager);
#  - restarts after SIGTERM and after kill -9 notify nothing twice;
#  - a failing webhook: the notification stays in the outbox, retried until
#    it is delivered; bad rule files and flags exit 2.
#
# Usage: tests/integration/test_alerts.sh [BIN_DIR]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lib_init "$@"
alerts=$bin/ecom-alerts fake=$repo/tests/integration/fake_http.py
am_bin=$(command -v prometheus-alertmanager || true)
[[ -x $alerts ]] || { echo "test_alerts: $alerts is not built" >&2; exit 1; }
[[ -n $am_bin ]] || { echo "test_alerts: prometheus-alertmanager is missing (scripts/deps.sh installs it)" >&2; exit 1; }

posts() { # EVENT [RULE]: webhook posts of that event (and rule)
    [[ -f $tmp/hook/posts.jsonl ]] || { echo 0; return; }
    /usr/bin/python3 -c 'import json,sys
n=0
for l in open(sys.argv[1]):
    j=json.loads(l)
    n+=j["event"]==sys.argv[2] and (len(sys.argv)<4 or j["rule"]==sys.argv[3])
print(n)' "$tmp/hook/posts.jsonl" "$@"
}
start_alerts() { "$alerts" -r "$tmp/rules.conf" -i 0.5 -p 0 -w "http://127.0.0.1:$hook_port/hook" -a "http://127.0.0.1:$am_port" "$@" 2>>"$tmp/alerts.err" & apid=$!; }

start_pg >/dev/null
mkdir -p "$tmp/hook" "$tmp/am"
am_port=$(free_port)
cat >"$tmp/am.yml" <<'Y'
route: {receiver: blackhole, group_wait: 1s, group_interval: 1s}
receivers: [{name: blackhole}]
Y
"$am_bin" --config.file="$tmp/am.yml" --storage.path="$tmp/am" --web.listen-address="127.0.0.1:$am_port" \
    --cluster.listen-address= >"$tmp/am.log" 2>&1 &
/usr/bin/python3 "$fake" "$tmp/hook" >"$tmp/hook.port" 2>"$tmp/hook.err" &
for _ in $(seq 100); do hook_port=$(sed -n 's/^port=//p' "$tmp/hook.port"); [[ -n $hook_port ]] && break; sleep 0.1; done
wait_ok "Alertmanager answers" 20 curl -sf "http://127.0.0.1:$am_port/-/ready"
health_port=$(free_port)

cat >"$tmp/rules.conf" <<EOF2
[rule lag]
kind = consumer_lag
threshold = 1000
for = 2s
repeat = 3s
[rule down]
kind = stream_down
url = http://127.0.0.1:$health_port/health
repeat = 3s
[rule dlq]
kind = dead_letters
threshold = 30
window = 1m
repeat = 3s
[rule stale]
kind = freshness
threshold = 300
repeat = 3s
[rule quality]
kind = quality_failed
repeat = 3s
[rule task]
kind = task_failed
repeat = 3s
[rule fraud]
kind = fraud
window = 30s
repeat = 3s
severity = critical
labels = team=risk
[rule stock]
kind = low_stock
repeat = 3s
EOF2
expect_status "--check: the rules listed" 0 "$alerts" -r "$tmp/rules.conf" --check
check "--check: 8 rules" 8 "$(wc -l <"$tmp/out")"

sql "insert into metric_series (source, name, labels) values ('kafka', 'kafka_consumergroup_lag_sum', '{\"group\":\"g1\"}');
     insert into metric_points select series_id, now(), 5000 from metric_series;
     insert into dead_letter_events (topic, kafka_key_encoding, payload_encoding, reason)
         select 'user-events', 'null', 'null', 'test' from generate_series(1, 100);
     insert into data_quality_runs (run_id, period_start, period_end, finished_at) values (1, '2026-12-01', '2026-12-02', now());
     insert into data_quality_results (run_id, check_name, table_name, status, observed_value, threshold)
         values (1, 'freshness', 'user_events', 'fail', 9, 1), (1, 'completeness', 'user_events', 'pass', 0, 1);
     insert into dag_runs (dag_id, run_id, logical_date, data_interval_start, data_interval_end, run_type, state)
         values ('d', 'r1', '2026-12-01', '2026-12-01', '2026-12-02', 'manual', 'failed');
     insert into task_instances (dag_id, run_id, task_id, state, try_number, end_date) values ('d', 'r1', 't', 'failed', 2, now());
     insert into fraud_alerts (transaction_id, user_id, rule, severity, details, event_time)
         values (gen_random_uuid(), 'U0001', 'high_value', 'high', '{}', now());
     insert into inventory_alerts (product_id, warehouse_location, current_stock, threshold, state, event_time, event_id)
         values ('P001', 'NYC', 3, 20, 'low', now(), gen_random_uuid());" >/dev/null

t0=$(date +%s%N)
start_alerts
wait_ok "every rule fired (10 instances: 3 stale topics)" 20 bash -c "[[ \$(wc -l <'$tmp/hook/posts.jsonl') -ge 10 ]]"
sleep 1.5
for r in lag down dlq quality task fraud stock; do
    check "rule $r: fired once" 1 "$(posts firing "$r")"
done
check "rule stale: fired once per topic" 3 "$(posts firing stale)"
check "lag: held back by for = 2s" 1 \
    "$(sql "select (created_at - active_since >= interval '2 s')::int from alert_notifications where rule = 'lag' and event = 'firing'")"
sleep 3
for r in lag down dlq stale quality task fraud stock; do
    check "rule $r: repeated every 3 s while firing" 1 "$(( $(posts repeat "$r") >= 1 ))"
done
head -n 1 "$tmp/hook/posts.jsonl" >"$tmp/first.json"
grep '"rule":"fraud"' "$tmp/hook/posts.jsonl" | head -n 1 >"$tmp/fraud.json"
check "the webhook body: rule, severity, labels and summary" "critical risk U0001 True" \
    "$(json_get "$tmp/fraud.json" '" ".join([j["severity"], j["labels"]["team"], j["labels"]["user_id"], str("high_value" in j["summary"])])')"
for r in lag down dlq stale quality task fraud stock; do
    wait_ok "Alertmanager holds $r active" 10 bash -c "[[ \$(curl -s 'http://127.0.0.1:$am_port/api/v2/alerts?active=true' | grep -c '\"alertname\":\"$r\"') -ge 1 ]]"
done

# --- resolve: every source back to normal
sql "insert into metric_points select series_id, now() + interval '1 ms', 0 from metric_series" >/dev/null
printf 'ok\n' >"$tmp/hook/health"
/usr/bin/python3 "$fake" --port "$health_port" "$tmp/hook" >/dev/null 2>&1 &
sql "delete from dead_letter_events;
     insert into user_events (event_id, event_time) values (gen_random_uuid(), now());
     insert into transactions (transaction_id, event_time, totals_match) values (gen_random_uuid(), now(), true);
     insert into inventory_updates (event_id, event_time) values (gen_random_uuid(), now());
     insert into data_quality_runs (run_id, period_start, period_end, finished_at) values (2, '2026-12-02', '2026-12-03', now());
     insert into data_quality_results (run_id, check_name, table_name, status) values (2, 'freshness', 'user_events', 'pass');
     insert into dag_runs (dag_id, run_id, logical_date, data_interval_start, data_interval_end, run_type, state)
         values ('d', 'r2', '2026-12-02', '2026-12-02', '2026-12-03', 'manual', 'success');
     insert into task_instances (dag_id, run_id, task_id, state, try_number, end_date) values ('d', 'r2', 't', 'success', 1, now());
     update fraud_alerts set detected_at = now() - interval '1 hour';
     insert into inventory_alerts (product_id, warehouse_location, current_stock, threshold, state, event_time, event_id)
         values ('P001', 'NYC', 80, 20, 'restored', now(), gen_random_uuid());" >/dev/null
wait_ok "every alert resolved (10 instances)" 15 bash -c "[[ \$(grep -c '\"event\":\"resolved\"' '$tmp/hook/posts.jsonl') -ge 10 ]]"
for r in lag down dlq quality task fraud stock; do
    check "rule $r: resolved once" 1 "$(posts resolved "$r")"
done
check "rule stale: resolved once per topic" 3 "$(posts resolved stale)"
wait_ok "Alertmanager: nothing active any more" 10 bash -c "[[ \$(curl -s 'http://127.0.0.1:$am_port/api/v2/alerts?active=true' | grep -c alertname) == 0 ]]"
check "alert_state empty" 0 "$(sql 'select count(*) from alert_state')"

# Firing again, for the restarts: a new fraud alert and a low stock.
sql "insert into fraud_alerts (transaction_id, user_id, rule, severity, details, event_time)
         values (gen_random_uuid(), 'U0002', 'velocity', 'medium', '{}', now());
     insert into inventory_alerts (product_id, warehouse_location, current_stock, threshold, state, event_time, event_id)
         values ('P003', 'NYC', 2, 20, 'low', now(), gen_random_uuid());" >/dev/null
wait_ok "two new alerts fire" 10 bash -c "[[ \$(psql -XAtc \"select count(*) from alert_state where state = 'firing'\") == 2 ]]"

# --- restarts: SIGTERM, then kill -9; nothing notified twice
before=$(($(posts firing) + $(posts resolved)))
kill -TERM "$apid"; wait "$apid" && rc=0 || rc=$?
held=$(sql "select count(*) from alert_state where state = 'firing'")
check "SIGTERM: exit 0" 0 "$rc"
start_alerts
sleep 3
kill -KILL "$apid"; wait "$apid" 2>/dev/null || true
start_alerts
sleep 3
check "after SIGTERM and kill -9 restarts: no firing or resolved notification again" "$before" \
    "$(($(posts firing) + $(posts resolved)))"
check "both restarts loaded the $held firing alerts" "2 2" \
    "$held $(grep -c "loaded $held alerts" "$tmp/alerts.err")"

# --- a failing webhook: kept in the outbox, delivered once it answers
touch "$tmp/hook/fail"
sql "insert into inventory_alerts (product_id, warehouse_location, current_stock, threshold, state, event_time, event_id)
     values ('P002', 'LA', 1, 20, 'low', now(), gen_random_uuid())" >/dev/null
wait_ok "webhook failing: the new alert's notification retried, undelivered" 15 bash -c \
    "[[ \$(psql -XAtc \"select attempts >= 2 and not webhook_done and alertmanager_done and delivered_at is null from alert_notifications where key = 'P002/LA' and event = 'firing'\") == t ]]"
rm -f "$tmp/hook/fail"
wait_ok "webhook back: delivered" 10 bash -c "grep -q 'P002/LA' '$tmp/hook/posts.jsonl'"
check "delivered once" 1 "$(grep '"event":"firing"' "$tmp/hook/posts.jsonl" | grep -c '"key":"P002/LA"')"
kill -TERM "$apid"; wait "$apid" || true

# --- bad rule files, bad flags
printf '[rule a]\nkind = fraud\nfor = soon\n' >"$tmp/bad.conf"
expect_status "a bad rule file: exit 2" 2 "$alerts" -r "$tmp/bad.conf" --check
check "a bad rule file: its line" 1 "$(grep -c 'bad.conf:3: rule "a": for: a duration' "$tmp/err")"
expect_status "a missing rule file: exit 2" 2 "$alerts" -r "$tmp/none.conf" --check
check_bad_flags "$alerts" <<'EOF2'
--bogus|--bogus
-w ftp://x|invalid webhook URL
-i 0|-i/--interval
extra|unexpected argument
EOF2
finish
