@echo off
rem SOAR-EDR alert action launcher for Splunk on Windows: finds Node.js >= 18 and runs the
rem bundled action with the arguments and stdin splunkd passes (--execute, JSON payload).
rem Order: %SOAR_NODE%, a Node inside the app (bin\node\node.exe), %SPLUNK_HOME%\bin\node.exe, node on PATH.
setlocal
set "HERE=%~dp0"
set "NODE="
if defined SOAR_NODE (
  set "NODE=%SOAR_NODE%"
  goto check
)
if exist "%HERE%node\node.exe" ( set "NODE=%HERE%node\node.exe" & goto check )
if defined SPLUNK_HOME if exist "%SPLUNK_HOME%\bin\node.exe" ( set "NODE=%SPLUNK_HOME%\bin\node.exe" & goto check )
for %%N in (node.exe) do set "NODE=%%~$PATH:N"
if not defined NODE (
  echo FATAL action_name="soar_response" signature="No usable Node.js" message="soar_response needs Node.js 18 or later; none found. Set SOAR_NODE." 1>&2
  exit /b 5
)
:check
"%NODE%" -e "process.exit(Number(process.versions.node.split('.')[0]) >= 18 ? 0 : 1)" 2>nul
if errorlevel 1 (
  echo FATAL action_name="soar_response" signature="No usable Node.js" message="%NODE% is not Node.js 18 or later. Set SOAR_NODE." 1>&2
  exit /b 5
)
"%NODE%" "%HERE%soar_response_main.cjs" %*
exit /b %ERRORLEVEL%
