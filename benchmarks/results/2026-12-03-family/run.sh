#!/bin/bash
# single budget 2, the family 1,2,4, single budget 2 again: alternating, one invocation, default recipe, no ablation
cd /tmp/famb
H="dotnet /work/main/services/HourNas.Cli/bin/Release/net10.0/hournas.dll"
for run in single-a family single-b; do
  case $run in
    family) B="--budgets-mflops 1,2,4";;
    *) B="--budget-mflops 2";;
  esac
  start=$(date +%s)
  $H run --preset fashion-mnist $B --no-ablation --out /tmp/famb/out --id $run \
    > /tmp/famb/$run.txt 2> /tmp/famb/$run.err
  echo "$run exit $? wall $(( $(date +%s) - start )) s" >> /tmp/famb/log
done
