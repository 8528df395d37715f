/* wanrt schedule: print a sampler's sigma/timestep tables and which expert runs each step. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "models/wan22/sched.h"

static const char usage[] =
    "usage: wanrt schedule --sampler S --steps N --shift X [--boundary B | --split K] [--json]\n"
    "  samplers: unipc, dpm++, dpm++_sde, euler, lcm\n"
    "  --boundary B: the high-noise expert runs while the timestep >= B*1000 (official: 0.875 t2v, 0.9 i2v)\n"
    "  --split K: the first K steps run the high-noise expert (the wrapper's start/end steps)\n";

int cmd_schedule(int argc, char **argv)
{
    wan22_sampler sampler = WAN22_SAMPLER_UNIPC;
    long long steps = 0, split = -1;
    double shift = 5.0, boundary = -1;
    int json = 0, have_shift = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--json"))
            json = 1;
        else if (!strcmp(a, "--sampler") && v) {
            if (!wan22_sampler_parse(argv[++i], &sampler)) {
                fprintf(stderr, "wanrt schedule: unknown sampler '%s' (valid: %s)\n", argv[i], wan22_sampler_list());
                return 2;
            }
        } else if (!strcmp(a, "--steps") && v) {
            if (!cli_parse_int("--steps", argv[++i], 1, WAN22_MAX_STEPS, &steps))
                return 2;
        } else if (!strcmp(a, "--shift") && v) {
            if (!cli_parse_float("--shift", argv[++i], &shift))
                return 2;
            have_shift = 1;
        } else if (!strcmp(a, "--boundary") && v) {
            if (!cli_parse_float("--boundary", argv[++i], &boundary) || boundary < 0 || boundary > 1) {
                fprintf(stderr, "wanrt schedule: --boundary must be in [0, 1]\n");
                return 2;
            }
        } else if (!strcmp(a, "--split") && v) {
            if (!cli_parse_int("--split", argv[++i], 0, WAN22_MAX_STEPS, &split))
                return 2;
        } else {
            fprintf(stderr, "wanrt schedule: unknown or incomplete option '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (!steps || !have_shift) {
        fprintf(stderr, "wanrt schedule: --steps and --shift are required\n%s", usage);
        return 2;
    }
    if (split >= 0 && boundary >= 0) {
        fprintf(stderr, "wanrt schedule: give --boundary or --split, not both\n");
        return 2;
    }
    if (split > steps) {
        fprintf(stderr, "wanrt schedule: --split %lld is beyond the %lld steps\n", split, steps);
        return 2;
    }
    wan22_schedule s;
    wr_status st = wan22_schedule_make(sampler, (int)steps, shift, &s);
    if (st != WR_OK)
        return cli_report("schedule", st);
    int high = split >= 0 ? (int)split : boundary >= 0 ? wan22_schedule_split_by_boundary(&s, boundary) : (int)steps;
    if (json) {
        printf("{\"sampler\": \"%s\", \"sigmas\": [", wan22_sampler_name(sampler));
        for (int i = 0; i <= s.steps; i++)
            printf("%s%.9g", i ? ", " : "", (double)s.sigmas[i]);
        printf("], \"timesteps\": [");
        for (int i = 0; i < s.steps; i++)
            printf("%s%.9g", i ? ", " : "", s.timesteps[i]);
        printf("], \"experts\": [");
        for (int i = 0; i < s.steps; i++)
            printf("%s\"%s\"", i ? ", " : "", i < high ? "high" : "low");
        printf("]}\n");
        return 0;
    }
    printf("sampler %s, %d steps, shift %g\n step  timestep      sigma  expert\n", wan22_sampler_name(sampler), s.steps, shift);
    for (int i = 0; i < s.steps; i++)
        printf("%5d  %8.3f  %9.6f  %s\n", i, s.timesteps[i], (double)s.sigmas[i], i < high ? "high" : "low");
    printf("  end            %9.6f\n", (double)s.sigmas[s.steps]);
    return 0;
}
