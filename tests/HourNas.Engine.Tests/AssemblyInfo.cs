// libtorch has one global random generator: a test class seeding it or drawing from it (a network's random
// initialisation) while another runs would change the other's numbers (a resume test once ended with different
// weights). Torch uses both cores anyway, so the classes run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
