# --- FreeBSD VM suite (tests/freebsd/vm/guest-suite.cmd, run by kupinit)
setenv KUP_QUIET 1
setenv KT_TIMEOUT 120
load /mod/kup.ko
load /mod/kupvt.ko
present /dev/kupvt
# --- vmtest: kup.ko's own tests (raw ABI, tests/vm/vmtest.c)
suite vmtest /bin/vmtest
load /mod/kup_test.ko
load /mod/kup_echo.ko
present /dev/kup_echo
# --- kup_integ: the shared integration suite, KUP_BACKEND=kernel
setenv KUP_BACKEND kernel
suite kup_integ /bin/kup_integ
step "echo client against kup_echo.ko" /bin/echo_client -n 2000
# --- live state: sysctl dev.kup.stat, read by kupctl (integ_stat above checks the figures)
step "kupctl list (sysctl dev.kup.stat)" /bin/kupctl list
step "kupctl stat kup_echo" /bin/kupctl stat kup_echo
step "kupctl top -n 2 kup_echo" /bin/kupctl top -n 2 -d 0.2 kup_echo
unload kup_echo.ko
unload kup_test.ko
unload kupvt.ko
unload kup.ko
absent /dev/kupvt
absent /dev/kup_echo
