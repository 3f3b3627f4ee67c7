#!/bin/sh
# soar-init (docker-compose.yml): once Splunk is healthy, stores the secrets given in .env in
# Splunk's storage/passwords (realm soar_edr, app soar_edr) with `soar-edr secrets set NAME`.
#
# A value reaches the CLI on its stdin, never on a command line (every user of the host can
# read command lines with ps); SPLUNK_PASSWORD reaches it through the environment. An unset or
# empty value is skipped, so a secret stored earlier by hand stays as it is.
# Retries while splunkd is unreachable or answers with an error (CLI exit 4 or 5), not after a
# refused login (exit 3: the password is wrong) or a usage error (exit 2).
# Exit 0 when every given secret is stored, 1 otherwise (docker compose ps -a shows it); a
# refused login ends the run at once.

cli=${SOAR_EDR_CLI:-/opt/soar-edr/cli/soar-edr.cjs}

# splunkd in the splunk container serves Splunk's default certificate: it names no host and
# comes from a CA every Splunk download shares, so from this container (not loopback) it cannot
# be verified. The secrets then cross the project's own compose network with the check off, and
# the CLI says so on stderr. Give splunkd a certificate for the name "splunk" and set
# SPLUNK_CA_FILE to its CA, and the certificate is checked.
tls_opt=--insecure
if [ -n "${SPLUNK_CA_FILE:-}" ]; then tls_opt=; fi
attempts=${SOAR_INIT_ATTEMPTS:-30}
pause=${SOAR_INIT_PAUSE:-5}

# store NAME VALUE
store() {
  name=$1
  value=$2
  if [ -z "$value" ]; then
    echo "soar-init: $name not set in .env, skipped"
    return 0
  fi
  try=1
  while :; do
    printf '%s' "$value" | node "$cli" secrets set ${tls_opt:+"$tls_opt"} "$name"
    code=$?
    case $code in
      0) return 0 ;;
      3)
        echo "soar-init: Splunk refused the admin login. SPLUNK_PASSWORD in .env only sets the password on the first start; if you changed it since, change it back, or start over with: docker compose down -v" >&2
        exit 1
        ;;
      4 | 5) ;;
      *)
        echo "soar-init: storing $name failed (exit $code)" >&2
        return 1
        ;;
    esac
    if [ "$try" -ge "$attempts" ]; then
      echo "soar-init: gave up storing $name after $try attempts" >&2
      return 1
    fi
    try=$((try + 1))
    sleep "$pause"
  done
}

status=0
store virustotal_api_key "${SOAR_VIRUSTOTAL_API_KEY:-}" || status=1
store abuseipdb_api_key "${SOAR_ABUSEIPDB_API_KEY:-}" || status=1
store discord_webhook_url "${SOAR_DISCORD_WEBHOOK_URL:-}" || status=1
if [ "$status" -eq 0 ]; then
  node "$cli" secrets list ${tls_opt:+"$tls_opt"} || status=1
fi
exit "$status"
