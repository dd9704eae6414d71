#!/bin/bash
# Fake actions/runner env.sh: records PATH in .path and a few variables in .env (appending
# only those .env does not have yet), in the current directory.

varCheckList=(
    'LANG'
    'JAVA_HOME'
    'ANT_HOME'
    'M2_HOME'
    'ANDROID_HOME'
    'ANDROID_SDK_ROOT'
    'GRADLE_HOME'
    'NVM_BIN'
    'NVM_PATH'
    'LD_LIBRARY_PATH'
    'PERL5LIB'
)

envContents=""
if [ -f ".env" ]; then
    envContents=$(cat .env)
else
    touch .env
fi

writeVar() {
    local checkVar="$1"
    local checkDelim="${1}="
    if test "${envContents#*$checkDelim}" = "$envContents"; then
        if [ -n "${!checkVar}" ]; then
            echo "${checkVar}=${!checkVar}" >> .env
        fi
    fi
}

echo "$PATH" > .path

for var_name in "${varCheckList[@]}"; do
    writeVar "${var_name}"
done
