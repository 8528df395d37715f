/* The A14B experts and their LoRAs (see pipeline_experts.h). */
#include "models/wan22/pipeline_experts.h"

#include <stdlib.h>
#include <string.h>

#include "models/wan22/dit_plan.h"
#include "models/wan22/lora.h"
#include "runtime/log.h"

wr_status wan22_lora_ref_parse(char *text, wan22_lora_ref *out)
{
    out->path = text;
    out->strength = 1.0f;
    out->experts = 3;
    char *at = strrchr(text, '@');
    if (at && (!strcmp(at, "@high") || !strcmp(at, "@low"))) {
        out->experts = !strcmp(at, "@high") ? 1 : 2;
        *at = '\0';
    }
    char *colon = strrchr(text, ':');
    if (colon && colon[1]) {
        char *end;
        double v = strtod(colon + 1, &end);
        if (*end == '\0') {
            out->strength = (float)v;
            *colon = '\0';
        }
    }
    return *out->path ? WR_OK : wr_fail(WR_E_ARG, "--lora needs a file: FILE[:STRENGTH][@high|@low]");
}

/* Applies the LoRAs meant for this expert (bit 1: high, 2: low) and reports unmatched keys. */
static wr_status apply_loras(const wan22_gen *g, wan22_weights *w, int expert_bit)
{
    for (int i = 0; i < g->n_loras; i++) {
        if (!(g->loras[i].experts & expert_bit))
            continue;
        wr_weightfile lf;
        WR_TRY(wr_weightfile_open(&lf, g->loras[i].path));
        wan22_lora_report rep;
        wr_status st = wan22_lora_apply(w, &lf, g->loras[i].strength, &rep);
        if (st == WR_OK && rep.applied == 0)
            st = wr_fail(WR_E_FORMAT, "%s: no LoRA key matches this Wan model (e.g. %s)", g->loras[i].path,
                         rep.first_unmatched);
        if (st == WR_OK && rep.unmatched)
            wr_log_warn("%s: %d LoRA keys matched nothing (first: %s)", g->loras[i].path, rep.unmatched,
                        rep.first_unmatched);
        if (st == WR_OK)
            wr_log_info("LoRA %s at strength %g: %d weights patched", g->loras[i].path, (double)g->loras[i].strength,
                        rep.applied);
        wr_weightfile_close(&lf);
        WR_TRY(st);
    }
    return WR_OK;
}



/* On a GPU backend: places the expert's weights, with the block swap and FFN chunk that fit the
 * budget when one is given. */
static wr_status place_on_device(const wan22_gen *g, wan22_weights *w, const char *path)
{
    if (wr_buffers_are_host())
        return WR_OK;
    int swap = g->block_swap;
    if (g->vram || swap > 0) {
        wan22_plan_opts o = {.width = g->width, .height = g->height, .frames = g->frames, .block_swap = swap,
                             .vram = g->vram, .attention = wr_attention_mode_get()};
        wan22_plan p;
        WR_TRY(wan22_plan_dit(w, &o, &p));
        if (!p.fits)
            return wr_fail(WR_E_OOM, "%s: the run needs %.2f GiB of device memory even with %d of %d blocks swapped; "
                           "--vram is %.2f GiB (see wanrt plan generate)", path, (double)p.peak / 1073741824.0,
                           p.block_swap, p.blocks, (double)g->vram / 1073741824.0);
        swap = p.block_swap;
        w->ffn_chunk = p.ffn_chunk;
        wr_log_info("%s: %d of %d blocks swapped, FFN chunks of %d rows, planned device peak %.2f GiB", path, swap,
                    p.blocks, p.ffn_chunk, (double)p.peak / 1073741824.0);
    }
    return wan22_weights_place(w, swap > 0 ? swap : 0);
}

wr_status wan22_expert_load(wan22_expert *e, const wan22_gen *g, const char *path, int expert_bit)
{
    int text_len = g->text_len;
    if (e->loaded && e->path == path)
        return WR_OK;
    if (e->loaded) {
        wan22_weights_free(&e->w);
        wr_weightfile_close(&e->wf);
        e->loaded = 0;
    }
    WR_TRY(wr_weightfile_open(&e->wf, path));
    wr_status st = wan22_weights_bind(&e->w, &e->wf, text_len);
    if (st == WR_OK) {
        st = apply_loras(g, &e->w, expert_bit);
        if (st == WR_OK)
            st = place_on_device(g, &e->w, path);
        if (st != WR_OK)
            wan22_weights_free(&e->w);
    }
    if (st != WR_OK) {
        wr_weightfile_close(&e->wf);
        return st;
    }
    e->loaded = 1;
    e->path = path;
    return WR_OK;
}

void wan22_expert_free(wan22_expert *e)
{
    if (e->loaded) {
        wan22_weights_free(&e->w);
        wr_weightfile_close(&e->wf);
    }
    e->loaded = 0;
}
