#!/usr/bin/env bash
# Cargo runner: boots the firmware ELF in QEMU and decodes its defmt log with defmt-print.
#
# The machine follows the target the ELF was built for: thumbv7m-none-eabi -> mps2-an385 (Cortex-M3),
# thumbv7em-none-eabihf -> mps2-an386 (Cortex-M4F); QEMU_MACHINE overrides it. Host ports (loopback
# only) come from the environment:
#   SIMPLE_IM_UDP_PORT   (default 15060) forwarded to the guest's UDP 5060
#   SIMPLE_IM_TCP_PORT   (default 15061) forwarded to the guest's TCP 5061
#   SIMPLE_IM_READY_PORT (default 15062) where the guest sends its READY datagram
# SIMPLE_IM_QEMU names another QEMU binary. The exit status is QEMU's, i.e. the firmware's
# semihosting verdict (0 success, 1 failure).
set -euo pipefail

elf=${1:?usage: run-qemu.sh FIRMWARE.elf}
case "$elf" in
  *thumbv7em-none-eabihf*) default_machine=mps2-an386 ;;
  *) default_machine=mps2-an385 ;;
esac
machine=${QEMU_MACHINE:-$default_machine}
udp=${SIMPLE_IM_UDP_PORT:-15060}
tcp=${SIMPLE_IM_TCP_PORT:-15061}
ready=${SIMPLE_IM_READY_PORT:-15062}

qemu=${SIMPLE_IM_QEMU:-qemu-system-arm}
for tool in "$qemu" defmt-print; do
  command -v "$tool" >/dev/null || { echo "run-qemu.sh: $tool not found; run 'cargo xtask setup'" >&2; exit 127; }
done

set +e
"$qemu" -machine "$machine" -display none -serial none -monitor none \
  -semihosting-config "enable=on,target=native,arg=firmware,arg=ready-port=$ready" \
  -nic "user,id=n0,model=lan9118,restrict=off,hostfwd=udp:127.0.0.1:$udp-:5060,hostfwd=tcp:127.0.0.1:$tcp-:5061" \
  -kernel "$elf" | defmt-print -e "$elf"
status=("${PIPESTATUS[@]}")
exit "${status[0]}"
