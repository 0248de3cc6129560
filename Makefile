# From a blocking forwarder to a balancer you can run.
#   make            build every program (needs only a C compiler)
#   make test       run every lesson's test suites (alias: make check)
#   make run        the demo: backends and the most advanced balancer here
#   make valgrind   the suites again, each balancer running under valgrind
#   make bench      final/lb beside lesson3, HAProxy, nginx, pen (needs wrk,
#                   nginx, haproxy, pen; gnuplot for the chart), ~5 min
#   make fuzz       AFL++ on final/'s HTTP parser (needs afl++), 60 s
#   make install    final/lb, its manual and an example systemd unit, under
#                   PREFIX (default /usr/local) and DESTDIR; make uninstall
#   make clean
# Variables pass down: make CC=clang, make SANITIZE=1 test, ...

LESSONS = lesson1 lesson2 lesson3 final

all:
	@for d in $(LESSONS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d all || exit 1; fi; \
	done
	$(MAKE) -C tests backend wsecho

test check:
	@for d in $(LESSONS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d test || exit 1; fi; \
	done

valgrind:
	@for d in $(LESSONS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d test VALGRIND=1 || exit 1; fi; \
	done

bench: all
	sh tests/bench.sh

fuzz:
	$(MAKE) -C tests fuzz

# The demo of the last lesson that exists: final/ once it is there.
# Everything is built first, so every lesson is ready to try.
run: all
	@for d in final lesson3 lesson2 lesson1; do \
		if [ -f $$d/Makefile ]; then exec $(MAKE) -C $$d run; fi; \
	done

# Only final/ is installed: the lessons are for reading and running here.
install uninstall:
	$(MAKE) -C final $@

clean:
	@for d in $(LESSONS) tests; do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d clean; fi; \
	done

.PHONY: all test check valgrind bench fuzz run install uninstall clean
