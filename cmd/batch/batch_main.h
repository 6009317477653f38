/* batch_main.h - the entry of kt-synth's batch mode (--batch, --merge). */
#ifndef KT_BATCH_MAIN_H
#define KT_BATCH_MAIN_H

/* 1 when the command line asks for batch mode (--batch or --merge). */
int kt_batch_wanted(int argc, char **argv);

/* Runs batch mode; returns the exit status. */
int kt_batch_main(int argc, char **argv);

#endif
